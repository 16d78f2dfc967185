"""GPU check of the training loop (no Ray needed): CUDA + bf16 autocast + SDPA, tokens/s and MFU.

    python benchmarks/gpu_check.py --data DATASET_DIR [--sizes tiny,proxy-60m] [--steps 40]

DATASET_DIR is a built demo dataset (``<storage>/_data/<key>``). On a machine without CUDA it runs
on CPU and says so. Prints one JSON line per model size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s


def main() -> None:
    import torch

    from codemix_search.core.sizes import SIZES
    from codemix_search.train.loop import train
    from codemix_search.train.loop_config import LoopConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--sizes", default="tiny,proxy-60m")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    with open(os.path.join(args.data, "manifest.json")) as f:
        manifest = json.load(f)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    for size in args.sizes.split(","):
        cfg = LoopConfig(**{
            "model": size,
            "seq_len": args.seq_len,
            "batch_size": args.batch,
            "steps": args.steps,
            "lr": 3e-3,
            "weight_decay": 0.1,
            "cooldown_share": 0.2,
            "warmup_share": 0.05,
            "evals": 2,
            "val_sequences": 4,
            "grad_clip": 1.0,
            "threads": 8,
            "compile": "true" if args.compile else "false",
            "mixture": {
                "pretrain": {"text": 0.25, "knowledge": 0.25, "code": 0.5},
                "cooldown": {"text": 0.4, "knowledge": 0.4, "code": 0.2},
            },
            "seed": 0,
            "data_uri": os.path.abspath(args.data),
            "manifest": manifest,
        })  # fmt: skip
        reports = []
        # Warm-up run (allocator, kernels), then the timed one.
        train(cfg.replace(steps=10, evals=1))
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
            "compile": "true" if args.compile else "false",
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
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
