"""Pareto ranking of finished trials with Optuna's own non-dominated sorting (pure, no Ray).

We build an in-memory Optuna study holding the finished trials' objective values and ask it for
``best_trials``: the same machinery the searcher uses, so the exported front cannot disagree with
what Optuna considers optimal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
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


def _oriented(values: Sequence[Sequence[float]], modes: Sequence[str]) -> list[list[float]]:
    """Rows turned into minimisation (max objectives negated), Optuna's convention."""
    signs = [-1.0 if m == "max" else 1.0 for m in modes]
    return [[s * v for s, v in zip(signs, row, strict=True)] for row in values]


def default_reference(values: Sequence[Sequence[float]], modes: Sequence[str]) -> list[float]:
    """The worst observed value of each objective, pushed 10% of its range further (so the
    worst points still add volume); the usual nadir-based choice."""
    cols = list(zip(*values, strict=True))
    out = []
    for col, mode in zip(cols, modes, strict=True):
        lo, hi = min(col), max(col)
        pad = 0.1 * (hi - lo) or 0.1 * abs(hi) or 0.1
        out.append(lo - pad if mode == "max" else hi + pad)
    return out


def hypervolume(
    values: Sequence[Sequence[float]],
    modes: Sequence[str],
    reference: Sequence[float] | None = None,
) -> float:
    """Volume dominated by the finite rows up to ``reference`` (in the objectives' own units
    and directions), computed by Optuna's exact hypervolume (WFG for 3+ objectives)."""
    # imported here, not at the top: Optuna: 0.2 s, with its samplers more
    from optuna._hypervolume import compute_hypervolume

    rows = [r for r in values if all(math.isfinite(v) for v in r)]
    if not rows:
        return 0.0
    ref = list(reference) if reference is not None else default_reference(rows, modes)
    pts = np.asarray(_oriented(rows, modes), dtype=float)
    ref_o = np.asarray(_oriented([ref], modes)[0], dtype=float)
    inside = np.all(pts < ref_o, axis=1)  # points beyond the reference add nothing
    if not inside.any():
        return 0.0
    return float(compute_hypervolume(pts[inside], ref_o))


def _normalised(values: Sequence[Sequence[float]], modes: Sequence[str]) -> list[list[float]]:
    """Each objective scaled to [0, 1] over the rows, 1 = best."""
    cols = list(zip(*values, strict=True))
    lo, hi = [min(c) for c in cols], [max(c) for c in cols]
    out = []
    for row in values:
        norm = []
        for k, v in enumerate(row):
            x = 0.5 if hi[k] == lo[k] else (v - lo[k]) / (hi[k] - lo[k])
            norm.append(x if modes[k] == "max" else 1.0 - x)
        out.append(norm)
    return out


def knee_index(values: Sequence[Sequence[float]], modes: Sequence[str]) -> int | None:
    """The front's compromise point: the non-dominated row closest (Euclidean, objectives scaled
    to [0, 1] over the front) to the ideal point where every objective is at its best."""
    front = pareto_front(values, modes)
    if not front:
        return None
    norm = _normalised([values[i] for i in front], modes)
    dist = [math.dist(row, [1.0] * len(row)) for row in norm]
    return front[min(range(len(front)), key=lambda j: (dist[j], front[j]))]


def weighted_pick(
    values: Sequence[Sequence[float]], modes: Sequence[str], weights: Sequence[float]
) -> int | None:
    """A single pick by weighted sum of objectives scaled to [0, 1] over the finite rows."""
    idx = [i for i, r in enumerate(values) if all(math.isfinite(v) for v in r)]
    if not idx:
        return None
    if len(weights) != len(modes) or any(w < 0 for w in weights) or not sum(weights):
        raise ValueError("weights: one non-negative weight per objective, not all zero")
    norm = _normalised([values[i] for i in idx], modes)
    scores = [sum(w * x for w, x in zip(weights, row, strict=True)) for row in norm]
    return idx[max(range(len(idx)), key=lambda j: (scores[j], -idx[j]))]
