"""Mixture sampler throughput vs a plain numpy copy of the same bytes, side by side in one run.

    python benchmarks/sampler_throughput.py            # ~20 s on 2 cores; prints a table

For each batch shape, both sides read from the same memory-mapped uint16 shards (page cache warm)
into an int64 (batch, seq_len) array, as the trainer consumes it:
- copy:    one contiguous slice of batch*seq_len tokens per step (the bytes-moved floor);
- sampler: PhaseSampler.batch(step) over a 5-source mixture (seeded order, epoch windows).
The ratio sampler/copy is the number to watch (target >= 0.5 at training shapes), and tokens/s is
compared with what a trainer eats (docs/gpu_check.md: ~0.85M tokens/s for proxy-60m on an H200).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from codemix_search.data.sampler import PhaseSampler  # noqa: E402

SHAPES = [("tiny", 16, 64), ("demo", 16, 64 * 4), ("proxy", 64, 512), ("paper", 32, 2048)]
WEIGHTS = {"text": 0.3, "knowledge": 0.2, "code": 0.3, "synthetic_code": 0.1, "commits": 0.1}
TOKENS_PER_SOURCE = 20_000_000  # 40 MB per source as uint16, 200 MB in all


def shards(folder: str, tokens: int = TOKENS_PER_SOURCE) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for name in WEIGHTS:
        path = os.path.join(folder, f"{name}.npy")
        np.save(path, rng.integers(0, 2048, tokens, dtype=np.uint16))
        out[name] = np.load(path, mmap_mode="r")
        out[name][:].sum()  # warm the page cache for both sides alike
    return out


def timed(fn, steps: int, min_seconds: float = 1.0) -> float:
    fn(0)
    n, t0 = 0, time.perf_counter()
    while True:
        fn(n % steps)
        n += 1
        if time.perf_counter() - t0 >= min_seconds:
            return n / (time.perf_counter() - t0)


def main() -> None:
    # --smoke (CI): 1M tokens a source, the two small shapes, 0.1 s a side: it runs, nothing more
    smoke = "--smoke" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as d:
        arrays = shards(d, 1_000_000 if smoke else TOKENS_PER_SOURCE)
        flat = arrays["code"]
        print(
            f"{'shape':8s} {'batch x seq':>12s} {'copy tok/s':>14s} {'sampler tok/s':>14s} {'ratio':>7s}"
        )
        for label, b, seq in SHAPES[:2] if smoke else SHAPES:
            steps = 500
            sampler = PhaseSampler(arrays, WEIGHTS, steps, b, seq, seed=0)
            out = np.empty((b, seq), dtype=np.int64)
            span = b * seq

            def copy(k, out=out, span=span, b=b, seq=seq):
                lo = (k * span) % (len(flat) - span)
                out[:] = flat[lo : lo + span].reshape(b, seq)
                return out

            # Interleave the two measurements so drift (turbo, other load) hits both.
            t = 0.1 if smoke else 1.0
            c1, s1 = timed(copy, steps, t), timed(sampler.batch, steps, t)
            c2, s2 = timed(copy, steps, t), timed(sampler.batch, steps, t)
            c, s = max(c1, c2) * span, max(s1, s2) * span
            print(f"{label:8s} {f'{b} x {seq}':>12s} {c:14,.0f} {s:14,.0f} {s / c:7.2f}")


if __name__ == "__main__":
    main()
