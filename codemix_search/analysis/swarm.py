"""A swarm: runs that trained on known mixtures and measured metrics, from anyone.

The field picks mixtures by regression over many small proxy runs (RegMix, CLIMB, Olmix). A
``Swarm`` is that table, whatever wrote it: one row per run with its mixture weights (one or
more blocks, each summing to 1: RegMix's 17 Pile domains; our runs' pretraining and cooldown
phases, and the init as a one-hot block), its metrics (NaN where a run did not measure one) and
its model size. Three readers (analysis/swarm_readers.py), one record:

- RegMix's two-file layout: a mixtures CSV and a metrics CSV joined on ``index``; a folder of
  such pairs (``<split>_mixture_<size>.csv`` + ``<split>_<anything>_<size>.csv``) reads every
  pair, the size taken from the file name;
- one table (CSV, JSONL or parquet) whose weight and metric columns are named by prefix, with an
  optional size column;
- a codemix_search run folder: its finished trials (weights per phase, objectives, the space's
  model size).

Every bad input is one ``ConfigError`` naming the file, the column and the fix.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from codemix_search.errors import ConfigError

SUM_TOLERANCE = 1e-3
# ... unless the table rounded its weights: d columns written to k decimals may sum to 1 +-
# d x 0.5e-k (RegMix: 17 columns of 3 decimals, sums 0.996..1.003). Rows are then renormalised.
MIN_RUNS = 5  # fewer runs at a size leave nothing to fit or to rank


@dataclass(frozen=True)
class Block:
    """Columns whose weights sum to 1 in every run: a simplex (``onehot`` when each run takes
    exactly one of them, e.g. the init model)."""

    name: str
    columns: tuple[int, ...]
    onehot: bool = False


@dataclass(frozen=True)
class Swarm:
    columns: tuple[str, ...]
    blocks: tuple[Block, ...]
    weights: np.ndarray  # (runs, columns)
    metrics: Mapping[str, np.ndarray]  # metric -> (runs,), NaN where not measured
    sizes: tuple[str, ...]  # one label per run ("" when the table has none)
    ids: tuple[str, ...]
    origin: str  # what was read, for messages and provenance

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: Sequence[int] | np.ndarray) -> Swarm:
        idx = np.asarray(idx, dtype=int)
        return dataclasses.replace(
            self,
            weights=self.weights[idx],
            metrics={k: v[idx] for k, v in self.metrics.items()},
            sizes=tuple(self.sizes[i] for i in idx),
            ids=tuple(self.ids[i] for i in idx),
        )

    @property
    def size_labels(self) -> list[str]:
        return sorted(set(self.sizes))

    def size_index(self, size: str | None, flag: str = "--fit-size") -> np.ndarray:
        """Rows at ``size`` (case-insensitive; None: the table's only size)."""
        labels = self.size_labels
        if size is None:
            if len(labels) > 1:
                raise ConfigError(
                    flag, "", f"{self.origin} holds sizes {labels}: name one with {flag}"
                )
            size = labels[0]
        match = [s for s in labels if s.lower() == size.lower()]
        if not match:
            raise ConfigError(flag, "", f"size {size!r} is not in {self.origin}: it holds {labels}")
        return np.array([i for i, s in enumerate(self.sizes) if s == match[0]], dtype=int)

    def metric(self, name: str, flag: str = "--objective") -> np.ndarray:
        if name not in self.metrics:
            raise ConfigError(
                flag, "", f"no metric {name!r} in {self.origin}: it has {sorted(self.metrics)}"
            )
        return self.metrics[name]

    def with_metric(self, name: str, values: np.ndarray) -> Swarm:
        return dataclasses.replace(self, metrics={**self.metrics, name: values})


def check(swarm: Swarm, where: str) -> Swarm:
    """Weights finite, >= 0 and summing to 1 per block (a block a run does not use is all 0)."""
    w = swarm.weights
    for j, col in enumerate(swarm.columns):
        bad = np.flatnonzero(~np.isfinite(w[:, j]) | (w[:, j] < 0))
        if bad.size:
            raise ConfigError(
                where,
                col,
                f"run {swarm.ids[bad[0]]}: weight {w[bad[0], j]} is not a finite "
                "number >= 0; fix or drop the row",
            )
    if len(swarm) == 0:
        raise ConfigError(where, "", "no runs in the table")
    w = w.copy()
    for b in swarm.blocks:
        cols = list(b.columns)
        sums = w[:, cols].sum(1)
        tol = max(SUM_TOLERANCE, len(cols) * 0.5 * 10.0 ** -decimals(w[:, cols]))
        bad = np.flatnonzero((np.abs(sums - 1) > tol) & (sums != 0))
        if bad.size:
            raise ConfigError(
                where,
                b.name,
                f"run {swarm.ids[bad[0]]}: weights sum to {sums[bad[0]]:.6g}, not "
                f"1 (+-{tol:.3g}); normalise them",
            )
        w[np.ix_(sums > 0, cols)] /= sums[sums > 0, None]
    return dataclasses.replace(swarm, weights=w)


def decimals(w: np.ndarray, most: int = 6) -> int:
    """The fewest decimals (<= ``most``) every weight is written with."""
    for k in range(most + 1):
        if np.all(np.abs(np.round(w, k) - w) < 1e-9):
            return k
    return most + 3  # full precision: the tolerance stays SUM_TOLERANCE


def concat(swarms: Sequence[Swarm]) -> Swarm:
    """Rows of several swarms on the union of their columns (a weight a swarm lacks is 0; a
    metric it lacks is NaN); blocks of the same name merge."""
    if len(swarms) == 1:
        return swarms[0]
    columns = list(dict.fromkeys(c for s in swarms for c in s.columns))
    pos = {c: i for i, c in enumerate(columns)}
    weights = np.zeros((sum(len(s) for s in swarms), len(columns)))
    blocks: dict[str, tuple[set, bool]] = {}
    start = 0
    for s in swarms:
        weights[start : start + len(s), [pos[c] for c in s.columns]] = s.weights
        start += len(s)
        for b in s.blocks:
            cols, onehot = blocks.get(b.name, (set(), b.onehot))
            blocks[b.name] = (cols | {pos[s.columns[j]] for j in b.columns}, onehot and b.onehot)
    names = list(dict.fromkeys(m for s in swarms for m in s.metrics))
    metrics = {
        m: np.concatenate([s.metrics.get(m, np.full(len(s), math.nan)) for s in swarms])
        for m in names
    }
    return Swarm(
        columns=tuple(columns),
        blocks=tuple(Block(n, tuple(sorted(c)), o) for n, (c, o) in blocks.items()),
        weights=weights,
        metrics=metrics,
        sizes=tuple(x for s in swarms for x in s.sizes),
        ids=tuple(x for s in swarms for x in s.ids),
        origin=" + ".join(s.origin for s in swarms),
    )


def to_frame(swarm: Swarm, weight_prefix: str = "w:", metric_prefix: str = "m:"):
    """The swarm as one prefixed table (what ``read_prefixed`` reads back, size column ``size``)."""
    # imported here, not at the top: pandas: 0.3 s
    import pandas as pd

    frame = pd.DataFrame(swarm.weights, columns=[weight_prefix + c for c in swarm.columns])
    for k, v in swarm.metrics.items():
        frame[metric_prefix + k] = v
    frame.insert(0, "size", list(swarm.sizes))
    frame.insert(0, "id", list(swarm.ids))
    return frame


def metric_mean(swarm: Swarm, names: Sequence[str] | None = None) -> np.ndarray:
    """Mean of several metrics per run (RegMix's average validation loss)."""
    names = list(names or swarm.metrics)
    return np.mean([swarm.metrics[n] for n in names], axis=0)


def parse_objective(text: str) -> tuple[str, str]:
    """``COLUMN[:min|max]`` -> (column, mode); default min (losses, BPB)."""
    name, _, mode = text.rpartition(":") if text.endswith((":min", ":max")) else (text, "", "min")
    if not name:
        raise ConfigError("--objective", "", f"{text!r}: give COLUMN or COLUMN:min|max")
    return name, mode


def column_label(column: str, block: Block) -> str:
    """A column's name inside its block: ``pretrain/code`` -> ``code`` in block ``pretrain``."""
    return column.removeprefix(block.name + "/")


def weights_dict(swarm: Swarm, row: np.ndarray) -> dict[str, dict[str, float]]:
    """{block: {column: weight}} of one weight vector (zero weights left out)."""
    return {
        b.name: {column_label(swarm.columns[j], b): float(row[j]) for j in b.columns if row[j] > 0}
        for b in swarm.blocks
    }
