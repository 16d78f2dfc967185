"""Pareto ranking of finished trials with Optuna's own non-dominated sorting (pure, no Ray).

We build an in-memory Optuna study holding the finished trials' objective values and ask it for
``best_trials``: the same machinery the searcher uses, so the exported front cannot disagree with
what Optuna considers optimal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _direction(mode: str) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return "minimize" if mode == "min" else "maximize"


def pareto_front(values: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Indices (into ``values``) of the non-dominated rows, in input order.

    Rows containing NaN/inf are never on the front (a trial that produced no number is not a result).
    """
    directions = [_direction(m) for m in modes]
    study = optuna.create_study(directions=directions)
    index_of_number: dict[int, int] = {}
    for i, row in enumerate(values):
        if len(row) != len(modes):
            raise ValueError(f"row {i} has {len(row)} values, expected {len(modes)}")
        if not all(math.isfinite(v) for v in row):
            continue
        study.add_trial(
            optuna.trial.create_trial(values=[float(v) for v in row], params={}, distributions={})
        )
        index_of_number[len(index_of_number)] = i
    if not index_of_number:
        return []
    return sorted(index_of_number[t.number] for t in study.best_trials)


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    signs = [1.0 if m == "max" else -1.0 for m in modes]
    ge = all(s * x >= s * y for s, x, y in zip(signs, a, b, strict=True))
    gt = any(s * x > s * y for s, x, y in zip(signs, a, b, strict=True))
    return ge and gt


def rank_order(values: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Order for the leaderboard: successive non-dominated fronts, ties broken by the mean of
    min-max normalised objectives (higher is better after orienting every objective to max)."""
    remaining = list(range(len(values)))
    order: list[int] = []
    signs = [1.0 if m == "max" else -1.0 for m in modes]
    finite = [i for i in remaining if all(math.isfinite(v) for v in values[i])]
    cols = list(zip(*[values[i] for i in finite], strict=True)) if finite else []
    lo = [min(c) for c in cols]
    hi = [max(c) for c in cols]

    def score(i: int) -> float:
        parts = []
        for k, v in enumerate(values[i]):
            span = hi[k] - lo[k]
            norm = 0.5 if span == 0 else (v - lo[k]) / span
            parts.append(norm if signs[k] > 0 else 1.0 - norm)
        return sum(parts) / len(parts)

    pool = finite
    while pool:
        front = [pool[j] for j in pareto_front([values[i] for i in pool], modes)]
        order.extend(sorted(front, key=lambda i: -score(i)))
        pool = [i for i in pool if i not in front]
    order.extend(i for i in remaining if i not in finite)
    return order
