"""Mixture sampler: fixed-length sequences whose per-source counts follow the weights exactly.

For a phase of S steps of B sequences, source i gets round-to-sum(w_i * S * B) sequences (largest
remainder, so the counts sum to S*B and each is within one sequence of its exact share). The order
of sources and each sequence's start offset come from a seeded generator, so step k is a pure
function of (seed, phase, k): resuming at any step needs no replay. Rank r of W takes sequences
r, r+W, ... of each global batch, so ranks never share a sequence.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def exact_counts(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Largest-remainder apportionment of ``total`` items by ``weights`` (which sum to 1)."""
    names = sorted(weights)
    raw = np.array([weights[n] * total for n in names], dtype=np.float64)
    counts = np.floor(raw).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:short]] += 1
    return {n: int(c) for n, c in zip(names, counts, strict=True)}


class PhaseSampler:
    """Sequences for one phase: ``batch(step)`` gives this rank's (B/W, seq_len) token block."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        steps: int,
        batch_size: int,
        seq_len: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ):
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} not divisible by world size {world}")
        self.arrays = arrays
        self.batch_size, self.seq_len, self.rank, self.world = batch_size, seq_len, rank, world
        self.counts = exact_counts({k: v for k, v in weights.items() if v > 0}, steps * batch_size)
        for name, n in self.counts.items():
            if n and len(arrays[name]) <= seq_len + 1:
                raise ValueError(
                    f"source {name!r} has {len(arrays[name])} tokens, fewer than one sequence"
                )
        rng = np.random.default_rng(seed)
        names = sorted(self.counts)
        self.names = names
        labels = np.concatenate(
            [np.full(self.counts[n], i, dtype=np.int32) for i, n in enumerate(names)]
        )
        rng.shuffle(labels)
        self.labels = labels
        # Start offsets drawn per sequence; uniform over the source (sampling with replacement).
        self.starts = np.empty(len(labels), dtype=np.int64)
        for i, n in enumerate(names):
            idx = np.nonzero(labels == i)[0]
            self.starts[idx] = rng.integers(0, len(arrays[n]) - seq_len, size=len(idx))

    def epochs(self) -> dict[str, float]:
        """Tokens drawn per source divided by the source's size."""
        return {n: self.counts[n] * self.seq_len / len(self.arrays[n]) for n in self.names}

    def batch(self, step: int) -> np.ndarray:
        lo = step * self.batch_size
        out = np.empty((self.batch_size // self.world, self.seq_len), dtype=np.int64)
        for j, g in enumerate(range(lo + self.rank, lo + self.batch_size, self.world)):
            arr = self.arrays[self.names[self.labels[g]]]
            s = self.starts[g]
            out[j] = arr[s : s + self.seq_len]
        return out

    def sources_of(self, step: int) -> list[str]:
        lo = step * self.batch_size
        return [
            self.names[self.labels[g]]
            for g in range(lo + self.rank, lo + self.batch_size, self.world)
        ]


def validation_windows(array: np.ndarray, n: int, seq_len: int) -> np.ndarray:
    """n evenly spaced, non-overlapping-if-possible windows of a held-out split (deterministic)."""
    if len(array) < seq_len:
        raise ValueError(f"validation split has {len(array)} tokens, fewer than seq_len {seq_len}")
    starts = np.linspace(0, len(array) - seq_len, num=n).astype(np.int64)
    return np.stack([np.asarray(array[s : s + seq_len], dtype=np.int64) for s in starts])
