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

import logging
import math
import os
import tempfile
import time

import numpy as np

from codemix_search.data.build import load_split, materialize
from codemix_search.data.sampler import PhaseSampler, validation_windows
from codemix_search.model import build_model, n_params
from codemix_search.schedule import Schedule
from codemix_search.seeds import derive_seed

log = logging.getLogger(__name__)


def eval_steps(total_steps: int, evals: int) -> list[int]:
    """Steps (0-based) after which to validate and report: evenly spaced, the last one last."""
    return sorted({max(0, round((i + 1) * total_steps / evals) - 1) for i in range(evals)})


def device_and_dtype():
    import torch

    # Fake GPU nodes report GPU ids without a GPU: trust torch, not Ray.
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device()), torch.bfloat16
    return torch.device("cpu"), None


def train(config: dict, rank: int = 0, world: int = 1, report=None, wrap_model=None) -> dict:
    """The loop itself, free of Ray: ``report(metrics, checkpoint_dir)`` is called at each eval
    point (checkpoint_dir only at the end, on every rank; rank 0 has written the model into it).
    ``wrap_model`` wraps the model for data parallelism (Ray Train's prepare_model). Returns the
    last metrics."""
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
    model.to(device)
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
    report_at = set(eval_steps(schedule.total_steps, config["evals"]))
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
    for step in range(schedule.total_steps):
        phase = schedule.phase(step)
        for g in opt.param_groups:
            g["lr"] = schedule.lr(step)
        local_step = step if phase == "pretrain" else step - schedule.cooldown_start
        loss = forward_loss(samplers[phase].batch(local_step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
        opt.step()
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
                report(metrics)
                return metrics
            vl = validate()
            elapsed = time.time() - t_start
            tokens = (step + 1) * tokens_per_step
            metrics = {
                "step": step + 1,
                "phase": phase,
                "lr": schedule.lr(step),
                "tokens": tokens,
                "tokens_per_s": tokens / max(elapsed, 1e-9),
                "train_loss": train_loss,
                "val_loss": float(np.mean(list(vl.values()))),
                **{f"val_loss/{s}": v for s, v in vl.items()},
                "params": params,
                # 6*N*D: forward+backward FLOPs of the dense part (attention adds <5% at seq 64).
                "model_flops": 6.0 * params * tokens,
                "diverged": 0,
                "device": device.type,
                **{f"epochs/{s}": e for s, e in epochs.items()},
            }
            window_loss, window_n = torch.zeros((), device=device), 0
            if step == schedule.total_steps - 1:
                with tempfile.TemporaryDirectory() as d:
                    if rank == 0:
                        unwrapped = getattr(model, "_orig_mod", model)
                        unwrapped = getattr(unwrapped, "module", unwrapped)
                        unwrapped.save_pretrained(d, safe_serialization=True)
                    report(metrics, d)
            else:
                report(metrics)
    return metrics


def train_loop_per_worker(config: dict) -> None:
    """Ray Train V2 entry: the loop above with Ray's rank, DDP wrapping and reports."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()

    def report(metrics: dict, checkpoint_dir: str | None = None) -> None:
        ckpt = None
        if checkpoint_dir is not None and ctx.get_world_rank() == 0:
            ckpt = ray.train.Checkpoint.from_directory(checkpoint_dir)
        ray.train.report(metrics, checkpoint=ckpt)

    train(
        config,
        rank=ctx.get_world_rank(),
        world=ctx.get_world_size(),
        report=report,
        wrap_model=lambda m: ray.train.torch.prepare_model(m, move_to_device=False),
    )


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
    from codemix_search.storage import Folder

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


def loop_config(space, trial_config: dict, data_uri: str, manifest: dict, seed: int) -> dict:
    """The plain-dict config the worker loop reads (everything it needs, nothing Ray-specific)."""
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
        "max_epochs": space.data.max_epochs,
        "mixture": space.mixture(trial_config).to_dict(),
        "seed": seed,
        "data_uri": data_uri,
        "manifest": manifest,
    }


if __name__ == "__main__":
    main()
