"""The per-worker training loop (Ray Train V2): continued pretraining, then the cooldown.

One readable loop, nanoGPT style. Each Ray Train worker runs ``train_loop_per_worker(config)``:
it memory-maps the packed shards, builds the model from its config (random init, seeded), and
steps through a warmup-stable-decay schedule whose decay is the cooldown phase, sampling each
phase's mixture exactly. Every ``evals``-th of the run it reports train loss, validation loss per
source, phase, tokens and tokens/s; the last report carries the final checkpoint.

Run it without Tune (tiny CPU run, ~20 s):

    python -m codemix_search.train_loop --space search_spaces/tiny.yaml
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import tempfile
import time

import numpy as np

from codemix_search.data.build import load_split, materialize
from codemix_search.data.sampler import PhaseSampler, validation_windows
from codemix_search.errors import ConfigError
from codemix_search.metrics import record_report
from codemix_search.mixture import BASES
from codemix_search.model import build_model, n_params
from codemix_search.schedule import Schedule
from codemix_search.seeds import derive_seed
from codemix_search.storage import Folder

log = logging.getLogger(__name__)


def eval_steps(total_steps: int, evals: int) -> list[int]:
    """Steps (0-based) after which to validate and report: evenly spaced, the last one last."""
    return sorted({max(0, round((i + 1) * total_steps / evals) - 1) for i in range(evals)})


def report_steps(schedule: Schedule, evals: int) -> list[int]:
    """The eval steps plus the last step of continued pretraining, so every trial reports (and
    checkpoints) the model just before its cooldown: the paper compares both."""
    return sorted(set(eval_steps(schedule.total_steps, evals)) | {schedule.cooldown_start - 1})


def checkpoint_steps(schedule: Schedule, evals: int, every: int) -> set[int]:
    """Every ``every``-th report, and both phase ends."""
    reports = report_steps(schedule, evals)
    picked = {s for i, s in enumerate(reports) if (i + 1) % every == 0}
    return picked | {schedule.cooldown_start - 1, schedule.total_steps - 1}


def device_and_dtype():
    import torch

    # Fake GPU nodes report GPU ids without a GPU: trust torch, not Ray.
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device()), torch.bfloat16
    return torch.device("cpu"), None


def train(
    config: dict,
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
    import torch

    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    device, amp_dtype = device_and_dtype()
    manifest = config["manifest"]
    local = materialize(config["data_uri"], manifest)
    report = report or (lambda metrics, checkpoint_dir=None: None)

    seed = config["seed"]
    model = build_model(
        config["model"], manifest["vocab_size"], config["seq_len"], derive_seed(seed, "init")
    )
    state: dict = {"step": -1}
    if resume_dir:
        with open(os.path.join(resume_dir, "state.json")) as f:
            state = json.load(f)
        if state.get("diverged"):  # restarted after its divergence was recorded: nothing to do
            return {"diverged": 1, "step": state["step"] + 1}
        load_weights(model, resume_dir)
    elif config.get("init_uri"):
        # Continued pretraining: start from a cached base (text / balanced / code) or a user's
        # checkpoint; the optimizer starts fresh with its own warmup, as in the paper.
        load_weights(model, fetch_model(config["init_uri"]))
    model.to(device)
    model_ready_time = time.time()
    if wrap_model is not None and world > 1:
        model = wrap_model(model)
    if config.get("compile"):
        model = torch.compile(model)
    params = n_params(model)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config["lr"],
        betas=(0.9, 0.95),
        fused=device.type == "cuda",
    )
    if resume_dir:
        opt.load_state_dict(torch.load(os.path.join(resume_dir, "optimizer.pt"), weights_only=True))
    schedule = Schedule(
        config["steps"], config["lr"], config["cooldown_share"], config["warmup_share"]
    )
    mixture = config["mixture"]
    sources = sorted(set(mixture["pretrain"]) | set(mixture["cooldown"]))
    train_arrays = {s: load_split(local, manifest, s, "train") for s in sources}
    samplers: dict[str, PhaseSampler] = {}
    consumed: dict[str, int] = {}
    for phase, n in schedule.phase_steps().items():
        samplers[phase] = PhaseSampler(
            train_arrays,
            mixture[phase],
            n,
            config["batch_size"],
            config["seq_len"],
            derive_seed(seed, "data", phase),
            rank,
            world,
            consumed=consumed,
        )
        consumed = {**consumed, **samplers[phase].drawn()}
    epochs = {s: round(e, 3) for p in samplers.values() for s, e in p.epochs().items()}
    repeated = {s: e for s, e in epochs.items() if e > config.get("max_epochs", float("inf"))}
    if repeated and rank == 0:
        log.warning(
            "this mixture repeats %s more than %s epochs: raise the data or lower their weight",
            ", ".join(f"{s} ({e:.1f}x)" for s, e in sorted(repeated.items())),
            config["max_epochs"],
        )
    val = {
        s: validation_windows(
            load_split(local, manifest, s, "val"), config["val_sequences"], config["seq_len"]
        )
        for s in sources
    }
    report_at = set(report_steps(schedule, config["evals"]))
    checkpoint_at = checkpoint_steps(schedule, config["evals"], config.get("checkpoint_every", 1))
    fault = config.get("fault") or {}
    start = state["step"] + 1
    tokens_per_step = config["batch_size"] * config["seq_len"]

    def forward_loss(x: np.ndarray):
        ids = torch.from_numpy(x).to(device, non_blocking=True)
        # bf16 autocast on GPU (SDPA attention comes from the model config); fp32 on CPU.
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            return model(input_ids=ids, labels=ids).loss

    @torch.no_grad()
    def validate() -> dict[str, float]:
        model.eval()
        out = {s: float(forward_loss(v).item()) for s, v in val.items()}
        model.train()
        return out

    model.train()
    t_start = time.time()
    window_loss, window_n = torch.zeros((), device=device), 0
    metrics: dict = {}
    first_step_time = None
    for step in range(start, schedule.total_steps):
        phase = schedule.phase(step)
        for g in opt.param_groups:
            g["lr"] = schedule.lr(step)
        local_step = step if phase == "pretrain" else step - schedule.cooldown_start
        loss = forward_loss(samplers[phase].batch(local_step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
        opt.step()
        if first_step_time is None:
            first_step_time = time.time()  # wall clock: start-up cost is measured from outside
        # Accumulate on the device: a .item() per step would sync the GPU every step.
        window_loss = window_loss + loss.detach().float()
        window_n += 1
        if step in report_at:
            train_loss = float(window_loss) / window_n
            if not math.isfinite(train_loss):
                # Diverged (NaN/inf) since the last report: say so and stop; the trial is
                # recorded as diverged and never ranked. Checked per report, not per step, so
                # the GPU is not synchronised every step.
                metrics = {
                    "diverged": 1,
                    "step": step + 1,
                    "phase": phase,
                    "train_loss": train_loss,
                    "val_loss": float("nan"),
                }
                # With a (model-free) checkpoint: Ray Train's result carries the metrics of its
                # latest checkpoint, so this is how the trial driver learns what happened.
                with tempfile.TemporaryDirectory() as d:
                    if rank == 0:
                        with open(os.path.join(d, "state.json"), "w") as f:
                            json.dump({"step": step, "diverged": True}, f)
                    report(metrics, d)
                return metrics
            vl = validate()
            elapsed = time.time() - t_start
            tokens = (step + 1) * tokens_per_step
            metrics = {
                "step": step + 1,
                "phase": phase,
                "lr": schedule.lr(step),
                "tokens": tokens,
                "tokens_per_s": (step + 1 - start) * tokens_per_step / max(elapsed, 1e-9),
                "train_loss": train_loss,
                "val_loss": float(np.mean(list(vl.values()))),
                **{f"val_loss/{s}": v for s, v in vl.items()},
                "params": params,
                # 6*N*D: forward+backward FLOPs of the dense part (attention adds <5% at seq 64).
                "model_flops": 6.0 * params * tokens,
                "diverged": 0,
                "resumed_at_step": start,
                "first_step_time": first_step_time,
                "model_ready_time": model_ready_time,
                "worker_entry_time": config.get("worker_entry_time"),
                "device": device.type,
                **{f"epochs/{s}": e for s, e in epochs.items()},
            }
            window_loss, window_n = torch.zeros((), device=device), 0
            if step in checkpoint_at:
                with tempfile.TemporaryDirectory() as d:
                    if rank == 0:
                        save_checkpoint(d, model, opt, {"step": step, "phase": phase})
                    report(metrics, d)
            else:
                report(metrics)
        if step == fault.get("kill_at_step") and not os.path.exists(fault["marker"]):
            # Fault injection (tests, codemix_search fault suite): die like an OOM-killed or
            # preempted worker, once; the marker makes the restarted worker carry on.
            open(fault["marker"], "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    return metrics


def _unwrap(model):
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DDP


def save_checkpoint(d: str, model, opt, state: dict) -> None:
    """Model (safetensors, loadable by transformers), optimizer and loop state."""
    import torch

    _unwrap(model).save_pretrained(d, safe_serialization=True)
    torch.save(opt.state_dict(), os.path.join(d, "optimizer.pt"))
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump(state, f)


def load_weights(model, model_dir: str) -> None:
    """Load a saved model's weights into ``model`` (same size and vocabulary, else one line)."""
    from safetensors.torch import load_file

    path = os.path.join(model_dir, "model.safetensors")
    if not os.path.exists(path):
        raise ConfigError(model_dir, "init", "no model.safetensors: give a saved model folder")
    weights = load_file(path)
    ours = model.state_dict()
    for name, tensor in weights.items():
        if name in ours and ours[name].shape != tensor.shape:
            raise ConfigError(
                model_dir,
                name,
                f"shape {tuple(tensor.shape)} does not match this model's "
                f"{tuple(ours[name].shape)}: the init must have the same size and vocabulary",
            )
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Tied input/output embeddings are saved once; anything else missing is a wrong checkpoint.
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ConfigError(
            model_dir, "init", f"weights do not fit this model (missing {missing[:3]}...)"
        )
    if "lm_head.weight" in missing:
        model.tie_weights()


def fetch_model(uri: str) -> str:
    """A local folder holding the model at ``uri`` (downloaded once per machine when remote)."""
    from codemix_search.data.build import cache_root

    folder = Folder(uri)
    if folder.is_local:
        return folder.local_path()
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    local = os.path.join(cache_root(), "models", key)
    if not os.path.exists(os.path.join(local, "_SUCCESS")):
        for name in folder.listdir():
            if name != "_SUCCESS":
                folder.download(name, os.path.join(local, name))
        open(os.path.join(local, "_SUCCESS"), "w").close()
    return local


def record_curve(folder: Folder, metrics: dict) -> None:
    """Append one report to ``curve.jsonl`` (what ``codemix_search replay`` checks against);
    a restarted worker first drops the lines it is about to redo."""
    keep = []
    if folder.exists("curve.jsonl"):
        keep = [
            x
            for x in folder.read_text("curve.jsonl").splitlines()
            if x.strip() and json.loads(x)["step"] < metrics["step"]
        ]
    row = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) or v is None}
    folder.write_text("curve.jsonl", "".join(x + "\n" for x in [*keep, json.dumps(row)]))


def train_loop_per_worker(config: dict) -> None:
    """Ray Train V2 entry: the loop above with Ray's rank, DDP wrapping and reports."""
    config = {**config, "worker_entry_time": time.time()}  # start-up breakdown (benchmarks/)
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()

    curve = Folder(config["curve_folder"]) if config.get("curve_folder") else None

    trial_name = os.path.basename(config.get("curve_folder") or "") or ctx.get_experiment_name()

    def report(metrics: dict, checkpoint_dir: str | None = None) -> None:
        if ctx.get_world_rank() == 0:
            record_report(trial_name, metrics)  # Prometheus gauges (codemix_search/metrics.py)
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
            config,
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


def main() -> None:
    """Train one mixture outside Tune (single worker) and print the reports."""
    import argparse
    import json
    import random

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from codemix_search.data.build import prepare_space_data
    from codemix_search.space import load_space

    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="search_spaces/tiny.yaml")
    ap.add_argument("--storage", default=os.path.abspath("runs"))
    args = ap.parse_args()
    space = load_space(args.space)
    cfg = space.sample(random.Random(space.seed))
    data = prepare_space_data(space, Folder(args.storage))
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config(space, cfg, data.uri, data.manifest, seed=space.seed),
        scaling_config=ScalingConfig(num_workers=1),
        run_config=RunConfig(storage_path=os.path.abspath(args.storage), name="train_loop_main"),
    )
    result = trainer.fit()
    print(
        json.dumps(
            {k: v for k, v in result.metrics.items() if not isinstance(v, dict)},
            indent=1,
            default=str,
        )
    )


def init_uri_for(init: str, inits: dict[str, str] | None) -> str | None:
    """The model folder a trial starts from: None (scratch), a built base, or the user's URI."""
    if init == "scratch":
        return None
    if init in BASES:
        if not inits or init not in inits:
            raise ValueError(f"base {init!r} has not been built (see codemix_search/bases.py)")
        return inits[init]
    return init


def loop_config(
    space,
    trial_config: dict,
    data_uri: str,
    manifest: dict,
    seed: int,
    inits: dict[str, str] | None = None,
) -> dict:
    """The plain-dict config the worker loop reads (everything it needs, nothing Ray-specific).
    ``inits`` maps base names (text, balanced, code) to their cached model folders."""
    t = space.training_for(trial_config)
    return {
        "model": t.model,
        "seq_len": t.seq_len,
        "batch_size": t.batch_size,
        "steps": t.steps,
        "lr": t.lr,
        "weight_decay": t.weight_decay,
        "cooldown_share": t.cooldown_share,
        "warmup_share": t.warmup_share,
        "evals": t.evals,
        "val_sequences": t.val_sequences,
        "grad_clip": t.grad_clip,
        "threads": t.cpus_per_worker,
        "compile": t.compile,
        "checkpoint_every": t.checkpoint_every,
        "max_epochs": space.data.max_epochs,
        "mixture": space.mixture(trial_config).to_dict(),
        "init_uri": init_uri_for(t.init, inits),
        "seed": seed,
        "data_uri": data_uri,
        "manifest": manifest,
    }


if __name__ == "__main__":
    main()
