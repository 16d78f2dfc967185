"""The per-worker training loop (Ray Train V2): continued pretraining, then the cooldown.

One readable loop, nanoGPT style. Each Ray Train worker runs ``train_loop_per_worker(config)``:
it memory-maps the packed shards, builds the model from its config (random init, seeded), and
steps through a warmup-stable-decay schedule whose decay is the cooldown phase, sampling each
phase's mixture exactly. Every ``evals``-th of the run it reports train loss, validation loss per
source, phase, tokens and tokens/s; the last report carries the final checkpoint.

Run it without Tune (tiny CPU run, ~20 s):

    python -m codemix_search train --space search_spaces/tiny.yaml
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from codemix_search.core.records import ReportKey
from codemix_search.core.schedule import Schedule
from codemix_search.core.seeds import derive_seed
from codemix_search.data.dataset import cache_root, load_split, materialize
from codemix_search.data.sampler import PhaseSampler, validation_windows
from codemix_search.observability.prometheus import record_report
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import DatasetLayout
from codemix_search.train.checkpoint import (
    fetch_model,
    load_weights,
    record_curve,
    save_checkpoint,
)
from codemix_search.train.loop_config import LoopConfig, checkpoint_steps, report_steps
from codemix_search.train.model import (
    build_model,
    compile_model,
    device_and_dtype,
    device_name,
    n_params,
)
from codemix_search.train.rung_scoring import RungScorer, rung_metric

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What the step loop works on, built once by ``_setup``."""

    model: Any
    opt: Any
    schedule: Schedule
    samplers: dict[str, PhaseSampler]
    val: dict[str, np.ndarray]
    epochs: dict[str, float]
    params: int
    device: Any
    amp_dtype: Any
    start: int
    model_ready_time: float
    tokenizer_dir: str  # copied into every checkpoint (a self-contained HF folder)


def train(
    cfg: LoopConfig,
    rank: int = 0,
    world: int = 1,
    report=None,
    wrap_model=None,
    resume_dir: str | None = None,
) -> dict:
    """The loop itself, free of Ray: ``report(metrics, checkpoint_dir)`` is called at each report
    point; at checkpoint points ``checkpoint_dir`` holds (written by rank 0) the model, the
    optimizer and the loop state, and ``resume_dir`` (such a folder) continues a run exactly
    where it stopped. ``wrap_model`` wraps the model for data parallelism (Ray Train's
    prepare_model). Returns the last metrics."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    torch.set_num_threads(max(1, int(cfg.training.cpus_per_worker)))
    report = report or (lambda metrics, checkpoint_dir=None: None)
    state: dict = {"step": -1}
    if resume_dir is None and cfg.resume_uri:  # a cooldown branched from a shared prefix
        resume_dir = fetch_model(cfg.resume_uri)
    if resume_dir:
        with open(os.path.join(resume_dir, "state.json")) as f:
            state = json.load(f)
        if state.get("diverged"):  # restarted after its divergence was recorded: nothing to do
            return {ReportKey.DIVERGED: 1, "step": state["step"] + 1}
    run = _setup(cfg, rank, world, wrap_model, resume_dir, state["step"] + 1)
    return _steps(cfg, run, rank, report)


def _setup(cfg: LoopConfig, rank, world, wrap_model, resume_dir, start) -> _Run:
    """Model (random init, a base, or the checkpoint to resume), optimizer, samplers, val data."""

    device, amp_dtype = device_and_dtype()
    manifest = cfg.manifest
    local = materialize(cfg.data_uri, manifest)
    model = build_model(
        cfg.training.model,
        manifest.vocab_size,
        cfg.training.seq_len,
        derive_seed(cfg.seed_of_pretraining, "init"),
    )
    if resume_dir:
        load_weights(model, resume_dir)
    elif cfg.init_uri:
        # Continued pretraining: start from a cached base (text / balanced / code) or a user's
        # checkpoint; the optimizer starts fresh with its own warmup, as in the paper.
        load_weights(model, fetch_model(cfg.init_uri))
    model.to(device)
    model_ready_time = time.time()
    if wrap_model is not None and world > 1:
        model = wrap_model(model)
    if cfg.training.compile in (True, "true") or (
        cfg.training.compile == "auto" and device.type == "cuda"
    ):
        model = compile_model(model, os.path.join(cache_root(), "inductor"))  # shared by a node
    opt = _optimizer(model, cfg, device, resume_dir)
    schedule = cfg.schedule
    mixture = cfg.mixture
    sources = sorted(set(mixture["pretrain"]) | set(mixture["cooldown"]))
    train_arrays = {s: load_split(local, manifest, s, "train") for s in sources}
    samplers: dict[str, PhaseSampler] = {}
    consumed: dict[str, int] = {}
    for phase, n in schedule.phase_steps().items():
        samplers[phase] = PhaseSampler(
            train_arrays,
            mixture[phase],
            n,
            cfg.training.batch_size,
            cfg.training.seq_len,
            derive_seed(
                cfg.seed_of_pretraining if phase == "pretrain" else cfg.seed, "data", phase
            ),
            rank,
            world,
            consumed=consumed,
        )
        consumed = {**consumed, **samplers[phase].drawn()}
    epochs = {s: round(e, 3) for p in samplers.values() for s, e in p.epochs().items()}
    repeated = {s: e for s, e in epochs.items() if e > cfg.max_epochs}
    if repeated and rank == 0:
        log.warning(
            "this mixture repeats %s more than %s epochs: raise the data or lower their weight",
            ", ".join(f"{s} ({e:.1f}x)" for s, e in sorted(repeated.items())),
            cfg.max_epochs,
        )
    val = {
        s: validation_windows(
            load_split(local, manifest, s, "val"), cfg.training.val_sequences, cfg.training.seq_len
        )
        for s in (cfg.val_sources or sources)
    }
    return _Run(
        model,
        opt,
        schedule,
        samplers,
        val,
        epochs,
        n_params(model),
        device,
        amp_dtype,
        start,
        model_ready_time,
        os.path.join(local, DatasetLayout.TOKENIZER),
    )


def _optimizer(model, cfg: LoopConfig, device, resume_dir: str | None):
    """AdamW (fused on CUDA), no weight decay on norms and biases; its state when resuming."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.training.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.training.lr,
        betas=(0.9, 0.95),
        fused=device.type == "cuda",
    )
    if resume_dir:
        opt.load_state_dict(torch.load(os.path.join(resume_dir, "optimizer.pt"), weights_only=True))
    return opt


def _steps(cfg: LoopConfig, run: _Run, rank: int, report) -> dict:
    """The step loop: warmup-stable-decay LR, a report (and maybe a checkpoint) at report steps."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    model, opt, schedule, device = run.model, run.opt, run.schedule, run.device

    def forward_loss(x: np.ndarray):
        ids = torch.from_numpy(x)
        if device.type == "cuda":  # pinned host memory: the copy overlaps the previous step
            ids = ids.pin_memory()
        ids = ids.to(device, non_blocking=True)
        # bf16 autocast on GPU (SDPA attention comes from the model config); fp32 on CPU.
        with torch.autocast(device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
            return model(input_ids=ids, labels=ids).loss

    @torch.no_grad()
    def validate() -> dict[str, float]:
        model.eval()
        out = {s: float(forward_loss(v).item()) for s, v in run.val.items()}
        model.train()
        return out

    report_at = set(report_steps(schedule, cfg.training.evals, cfg.noise_points))
    checkpoint_at = checkpoint_steps(
        schedule, cfg.training.evals, cfg.training.checkpoint_every, cfg.noise_points
    )
    rungs = _rung_scorer(cfg)
    rung_history: list[dict[str, float]] = []
    model.train()
    t_start = time.time()
    window_loss, window_n = torch.zeros((), device=device), 0
    metrics: dict = {}
    first_step_time = None
    for step in range(run.start, cfg.stop_step or schedule.total_steps):
        phase = schedule.phase(step)
        for g in opt.param_groups:
            g["lr"] = schedule.lr(step)
        local_step = step if phase == "pretrain" else step - schedule.cooldown_start
        loss = forward_loss(run.samplers[phase].batch(local_step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.training.grad_clip)
        opt.step()
        if first_step_time is None:
            first_step_time = time.time()  # wall clock: start-up cost is measured from outside
        # Accumulate on the device: a .item() per step would sync the GPU every step.
        window_loss = window_loss + loss.detach().float()
        window_n += 1
        if step in report_at:
            train_loss = float(window_loss) / window_n
            if not math.isfinite(train_loss):
                return _report_divergence(step, phase, train_loss, rank, report)
            metrics = {
                **_progress(cfg, run, step, phase, train_loss, time.time() - t_start),
                **_val_metrics(validate()),
                **_rung_metrics(rungs, model, device, rung_history),
                "first_step_time": first_step_time,
            }
            window_loss, window_n = torch.zeros((), device=device), 0
            if step in checkpoint_at:
                with tempfile.TemporaryDirectory() as d:
                    if rank == 0:
                        save_checkpoint(
                            d, model, opt, {"step": step, "phase": phase}, run.tokenizer_dir
                        )
                    report(metrics, d)
            else:
                report(metrics)
        fault = cfg.fault
        if step == fault.get("kill_at_step") and not os.path.exists(fault["marker"]):
            # Fault injection (tests, codemix_search fault suite): die like an OOM-killed or
            # preempted worker, once; the marker makes the restarted worker carry on.
            open(fault["marker"], "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    return metrics


def _progress(cfg: LoopConfig, run: _Run, step: int, phase: str, train_loss: float, elapsed):
    """A report's training numbers: where it is, how fast, how big (not the validation)."""
    tokens = (step + 1) * cfg.tokens_per_step
    return {
        "step": step + 1,
        "phase": phase,
        "lr": run.schedule.lr(step),
        "tokens": tokens,
        "tokens_per_s": (step + 1 - run.start) * cfg.tokens_per_step / max(elapsed, 1e-9),
        "train_loss": train_loss,
        "params": run.params,
        # 6*N*D: forward+backward FLOPs of the dense part (attention adds <5% at seq 64).
        "model_flops": 6.0 * run.params * tokens,
        ReportKey.DIVERGED: 0,
        "resumed_at_step": run.start,
        "model_ready_time": run.model_ready_time,
        "worker_entry_time": cfg.worker_entry_time,
        "device": run.device.type,
        # Which GPU (e.g. "NVIDIA H200"): the plan's learnt throughput is per device type.
        "device_name": device_name(str(run.device)),
        **{f"epochs/{s}": e for s, e in run.epochs.items()},
        **({"shared_tokens": cfg.shared_tokens} if cfg.shared_tokens else {}),
    }


def _rung_scorer(cfg: LoopConfig) -> RungScorer | None:
    if not cfg.rung_pairs:
        return None
    # imported here, not at the top: transformers: 0.7 s, more with torch
    from transformers import PreTrainedTokenizerFast

    local = materialize(cfg.data_uri, cfg.manifest)
    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, DatasetLayout.TOKENIZER))
    return RungScorer(cfg.rung_pairs, tok, max(cfg.training.seq_len, 512))


def _rung_metrics(rungs: RungScorer | None, model, device, history: list) -> dict:
    """The objectives' BPB on their rung items and ``rung_metric`` (last two reports' mean)."""
    if rungs is None:
        return {}
    scores = rungs.score(model, device)
    history.append(scores)
    return {"rung_metric": rung_metric(history), **{f"rung/{k}": v for k, v in scores.items()}}


def _val_metrics(vl: dict[str, float]) -> dict:
    """Mean validation loss over sources (each equal) and each source's."""
    return {
        "val_loss": float(np.mean(list(vl.values()))),
        **{f"val_loss/{s}": v for s, v in vl.items()},
    }


def _report_divergence(step: int, phase: str, train_loss: float, rank: int, report) -> dict:
    """Diverged (NaN/inf) since the last report: say so and stop; the trial is recorded as
    diverged and never ranked. Checked per report, not per step, so the GPU is not synchronised
    every step. With a (model-free) checkpoint: Ray Train's result carries the metrics of its
    latest checkpoint, so this is how the trial driver learns what happened."""
    metrics = {
        ReportKey.DIVERGED: 1,
        "step": step + 1,
        "phase": phase,
        "train_loss": train_loss,
        "val_loss": float("nan"),
    }
    with tempfile.TemporaryDirectory() as d:
        if rank == 0:
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"step": step, "diverged": True}, f)
        report(metrics, d)
    return metrics


def train_loop_per_worker(config: dict) -> None:
    """Ray Train V2 entry: the loop above with Ray's rank, DDP wrapping and reports."""
    cfg = LoopConfig.from_dict(config).replace(worker_entry_time=time.time())  # start-up cost
    # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()

    curve = Folder(cfg.curve_folder) if cfg.curve_folder else None
    trial_name = os.path.basename(cfg.curve_folder or "") or ctx.get_experiment_name()

    def report(metrics: dict, checkpoint_dir: str | None = None) -> None:
        if ctx.get_world_rank() == 0:
            record_report(
                trial_name, metrics
            )  # Prometheus gauges (codemix_search/observability/prometheus.py)
            if curve is not None:
                record_curve(curve, metrics)
        ckpt = None
        if checkpoint_dir is not None and ctx.get_world_rank() == 0:
            ckpt = ray.train.Checkpoint.from_directory(checkpoint_dir)
        # The worker group's placement group, so the search driver can free it if this trial
        # is stopped and Train's own cleaner misses it (search.PlacementGroupReaper).
        pg = ray.get_runtime_context().get_placement_group_id()
        ray.train.report({**metrics, "placement_group": pg or ""}, checkpoint=ckpt)

    def run(resume_dir: str | None) -> None:
        train(
            cfg,
            rank=ctx.get_world_rank(),
            world=ctx.get_world_size(),
            report=report,
            wrap_model=lambda m: ray.train.torch.prepare_model(m, move_to_device=False),
            resume_dir=resume_dir,
        )

    checkpoint = ray.train.get_checkpoint()  # set when Ray Train restarted us after a failure
    if checkpoint is None:
        run(None)
    else:
        with checkpoint.as_directory() as d:
            run(d)
