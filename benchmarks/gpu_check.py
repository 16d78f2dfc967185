"""GPU check of the training loop (no Ray needed): CUDA + bf16 autocast + SDPA, tokens/s and MFU.

    python benchmarks/gpu_check.py --data DATASET_DIR [--sizes tiny,proxy-60m] [--steps 40] \
        [--compile false|true|both] [--record]

DATASET_DIR is a built demo dataset (``<storage>/_data/<key>``). On a machine without CUDA it runs
on CPU and says so. Prints one JSON line per (model size, setting), then a markdown table:
tokens/s, MFU, the fixed per-trial cost (Ray Train start, measured 8.3 s on a warm cluster, plus
this process's model build and compile: the warm-up run) and its share of a proxy trial at 1x
Chinchilla tokens (20 per parameter). ``--record`` writes each size's best row into this
machine's throughput table, which ``codemix_search plan`` then uses (analysis/budget.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _demo_setup, for --smoke

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s
TRAIN_START_S = 8.3  # Ray Train V2 controller + worker group, warm cluster (issue 18's timing)


def main() -> None:
    import torch

    from codemix_search.config.sections import Training
    from codemix_search.core.sizes import SIZES
    from codemix_search.data.dataset import read_manifest
    from codemix_search.storage.folder import Folder
    from codemix_search.train.loop import train
    from codemix_search.train.loop_config import LoopConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="a built dataset folder (<storage>/_data/<key>)")
    ap.add_argument("--sizes", default="tiny,proxy-60m")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--compile", choices=("false", "true", "both"), default=None,
                    help="default: both on CUDA, false on the CPU")  # fmt: skip
    ap.add_argument("--record", action="store_true", help="write rows to the plan's table")
    ap.add_argument("--smoke", action="store_true", help="tiny data and model, 4 steps (CI)")
    args = ap.parse_args()
    if args.smoke:
        from _demo_setup import demo_setup

        args.data = demo_setup("cm-gpucheck-", "tiny")[1].uri
        args.sizes, args.steps, args.seq_len, args.batch = "tiny", 4, 64, 4
        args.compile, args.record = "false", False
    if not args.data:
        ap.error("--data DATASET_DIR is required (or --smoke)")
    manifest = read_manifest(Folder(os.path.abspath(args.data)))
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    modes = args.compile or ("both" if torch.cuda.is_available() else "false")
    rows = []
    for size, compiled in [
        (z, c)
        for z in args.sizes.split(",")
        for c in (["false", "true"] if modes == "both" else [modes])
    ]:
        knobs = Training(
            model=size, seq_len=args.seq_len, batch_size=args.batch, lr=3e-3, weight_decay=0.1,
            cooldown_share=0.2, warmup_share=0.05, evals=2, val_sequences=4, grad_clip=1.0,
            cpus_per_worker=8, compile=compiled,
        )  # fmt: skip
        cfg = LoopConfig(
            training=knobs,
            steps=args.steps,
            mixture={
                "pretrain": {"text": 0.25, "knowledge": 0.25, "code": 0.5},
                "cooldown": {"text": 0.4, "knowledge": 0.4, "code": 0.2},
            },
            seed=0,
            data_uri=os.path.abspath(args.data),
            manifest=manifest,
        )
        reports = []
        # Warm-up run (allocator, kernels), then the timed one.
        w0 = time.time()
        train(cfg.replace(steps=10, evals=1))
        warmup = time.time() - w0  # model build, allocator, kernels (compile, when on)
        t0 = time.time()
        last = train(cfg, report=lambda m, d=None, out=reports: out.append(m))
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall = time.time() - t0
        s = SIZES[size]
        tokens = last["tokens"]
        attn = 12 * s.layers * s.hidden * args.seq_len * tokens  # QK^T and AV, fwd+bwd
        flops = last["model_flops"] + attn
        out = {
            "device": name,
            "size": size,
            "compile": compiled,
            "params": last["params"],
            "tokens": tokens,
            "wall_s": round(wall, 2),
            "tokens_per_s": round(tokens / wall),
            "loop_tokens_per_s": round(last["tokens_per_s"]),
            "first_val_loss": round(reports[0]["val_loss"], 3),
            "last_val_loss": round(reports[-1]["val_loss"], 3),
            "reported_device": last.get("device"),
            # MFU over the training loop proper (after model build, before the final save).
            "mfu": round(flops / tokens * last["tokens_per_s"] / peak, 4) if peak else None,
            "warmup_s": round(warmup, 1),
        }
        fixed = TRAIN_START_S + warmup
        trial_tokens = 20 * last["params"]
        out["fixed_share_of_chinchilla_trial"] = round(
            fixed / (fixed + trial_tokens / last["tokens_per_s"]), 4
        )
        rows.append(out)
        print(json.dumps(out), flush=True)
    print(markdown(rows))
    if args.record:
        record(rows, name)


def markdown(rows: list[dict]) -> str:
    head = "| model | params | compile | loop tokens/s | MFU | fixed s (start + warm-up) | fixed share of a 1x Chinchilla trial |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        lines.append(
            f"| {r['size']} | {r['params'] / 1e6:.1f}M | {r['compile']} | "
            f"{r['loop_tokens_per_s']:,} | {mfu} | {TRAIN_START_S + r['warmup_s']:.1f} | "
            f"{r['fixed_share_of_chinchilla_trial']:.1%} |"
        )
    return "\n".join(lines)


def record(rows: list[dict], device_name: str) -> None:
    """Each size's fastest setting into the plan's throughput table."""
    from codemix_search.analysis.budget import device_of_name, record_row
    from codemix_search.core.costs import Throughput

    device = device_of_name(device_name)
    if device in (None, "cpu"):
        # A CPU's rows come from whole runs (a trial's start, evaluation and writes measured on
        # Tune's clock); this loop-only row with a 60 s evaluation guess would replace them.
        print(f"not recorded: no GPU plan row for {device_name!r}")
        return
    for size in dict.fromkeys(r["size"] for r in rows):
        best = max((r for r in rows if r["size"] == size), key=lambda r: r["loop_tokens_per_s"])
        record_row(Throughput(size, device, float(best["loop_tokens_per_s"]),
                              TRAIN_START_S + best["warmup_s"], 60.0,
                              f"gpu_check on {device_name}, compile {best['compile']}"))  # fmt: skip
        print(f"recorded: {size} on {device}: {best['loop_tokens_per_s']:,} tokens/s")


if __name__ == "__main__":
    main()
