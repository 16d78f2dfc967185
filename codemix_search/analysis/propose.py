"""``codemix_search propose``: the mixture a fitted swarm predicts best, over the continuous
simplex (not only the table's rows), under the user's constraints.

Candidates: Dirichlet draws per block (uniform and sparse), then two rounds of multiplicative
perturbations around the best so far (a simplex-respecting local search). Constraints filter
them: per-column ``--min`` / ``--max``, a repetition cap (a source's weight x the target tokens
may not exceed ``max_epochs`` x its available tokens, as Olmix constrains), and bounds on other
objectives' predictions (``code<=0.9`` or ``code<=baseline``, the baseline run's measured value).
A preference (``a=2,b=1``) scores a candidate by the weighted sum of its objectives, each scaled
by the measured range over the swarm (so BPB's scale never decides), lower better after the
mode. ``front`` returns the predicted Pareto front instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from codemix_search.analysis.swarm import Block, Swarm
from codemix_search.core.ranking import pareto_front
from codemix_search.errors import ConfigError

CANDIDATES = 4000
REFINE_ROUNDS = 2
DISTINCT_L1 = 0.1  # two proposals closer than this (L1 over all weights) are one mixture
CONSTRAINT = re.compile(r"^\s*([^<>=\s]+)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Bound:
    objective: str
    op: str  # "<=" or ">="
    value: float

    def holds(self, v: np.ndarray) -> np.ndarray:
        return v <= self.value if self.op == "<=" else v >= self.value


def parse_bound(text: str, swarm: Swarm, baseline: str | None) -> Bound:
    m = CONSTRAINT.match(text)
    if not m:
        raise ConfigError(
            "--constraint",
            "",
            f"{text!r}: write OBJECTIVE<=VALUE, OBJECTIVE>=VALUE or OBJECTIVE<=baseline",
        )
    name, op, rhs = m.groups()
    swarm.metric(name, "--constraint")
    if rhs == "baseline":
        if baseline is None or baseline not in swarm.ids:
            raise ConfigError(
                "--baseline",
                "",
                f"{baseline!r} is not a run id of the table; "
                "name the baseline run (e.g. its id column) for '<=baseline'",
            )
        value = float(swarm.metrics[name][swarm.ids.index(baseline)])
    else:
        try:
            value = float(rhs)
        except ValueError:
            raise ConfigError(
                "--constraint", "", f"{rhs!r} is not a number or 'baseline'"
            ) from None
    if not math.isfinite(value):
        raise ConfigError("--constraint", "", f"{text!r}: the bound must be a finite number")
    return Bound(name, op, value)


def parse_pairs(items: Sequence[str], flag: str, columns: Sequence[str] | None = None) -> dict:
    """``a=2,b=1`` (or repeated flags) -> {a: 2.0, b: 1.0}; finite numbers only."""
    out = {}
    for item in ",".join(items).split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not sep or not math.isfinite(v):
            raise ConfigError(flag, "", f"{item!r}: write NAME=NUMBER")
        if columns is not None and key.strip() not in columns:
            raise ConfigError(
                flag, "", f"{key.strip()!r} is not a column; columns: {list(columns)}"
            )
        out[key.strip()] = v
    return out


@dataclass(frozen=True)
class Limits:
    """Per-column bounds on the weights (the repetition cap folded into ``high``)."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def build(
        cls,
        swarm: Swarm,
        mins: Mapping[str, float],
        maxs: Mapping[str, float],
        available: Mapping[str, float] | None = None,
        target_tokens: float | None = None,
        max_epochs: float | None = None,
    ) -> Limits:
        d = len(swarm.columns)
        low, high = np.zeros(d), np.ones(d)
        for j, col in enumerate(swarm.columns):
            low[j] = mins.get(col, 0.0)
            high[j] = maxs.get(col, 1.0)
            if available is not None and target_tokens and max_epochs:
                source = col.rsplit("/", 1)[-1]
                if source not in available and col not in available:
                    raise ConfigError(
                        "--available",
                        "",
                        f"no available tokens for {col!r}: "
                        "give every source's tokens to cap repetition",
                    )
                cap = max_epochs * available.get(col, available.get(source, 0.0)) / target_tokens
                high[j] = min(high[j], cap)
        for b in swarm.blocks:
            cols = list(b.columns)
            if low[cols].sum() > 1 + 1e-9 or (not b.onehot and high[cols].sum() < 1 - 1e-9):
                raise ConfigError(
                    "--min/--max",
                    b.name,
                    "no mixture satisfies these bounds: the minimums sum "
                    f"to {low[cols].sum():.3g}, the maximums to {high[cols].sum():.3g} (each must "
                    "allow a total of 1); loosen them (or raise --max-epochs)",
                )
        return cls(low, high)

    def repair(self, W: np.ndarray, blocks: Sequence[Block]) -> np.ndarray:
        """Into the bounds, each block summing to 1: normalise, clip, then move the excess (or
        the deficit) across the columns in proportion to their room to the bound. Exact in one
        step whenever the block's minimums sum to <= 1 and its maximums to >= 1 (``build``
        checks that)."""
        W = W.copy()
        for b in blocks:
            cols = list(b.columns)
            lo, hi = self.low[cols], self.high[cols]
            w = W[:, cols] / np.maximum(W[:, cols].sum(1, keepdims=True), 1e-12)
            w = np.clip(w, lo, hi)
            gap = 1.0 - w.sum(1, keepdims=True)
            room = np.where(gap < 0, w - lo, hi - w)
            w += gap * room / np.maximum(room.sum(1, keepdims=True), 1e-12)
            W[:, cols] = np.clip(w, lo, hi)
        return W

    def ok(self, W: np.ndarray) -> np.ndarray:
        return np.all((W >= self.low - 1e-9) & (W <= self.high + 1e-9), axis=1)


def candidates(
    swarm: Swarm,
    n: int,
    rng: np.random.RandomState,
    around: np.ndarray | None = None,
    scale: float = 0.5,
) -> np.ndarray:
    """Points on the product of the blocks' simplices: Dirichlet(1) and Dirichlet(0.2) draws, or
    multiplicative perturbations of the rows of ``around`` (log-normal, sd ``scale``)."""
    W = np.zeros((n, len(swarm.columns)))
    for b in swarm.blocks:
        cols = list(b.columns)
        if b.onehot:
            base = around[:, cols] if around is not None else None
            pick = rng.randint(0, len(cols), n)
            if base is not None:
                keep = rng.rand(n) < 0.8
                from_base = base[rng.randint(0, len(base), n)].argmax(1)
                pick = np.where(keep, from_base, pick)
            W[np.arange(n), [cols[k] for k in pick]] = 1.0
            continue
        if around is None:
            alpha = np.where(rng.rand(n, 1) < 0.5, 1.0, 0.2)
            g = rng.gamma(np.broadcast_to(alpha, (n, len(cols))))
        else:
            base = around[rng.randint(0, len(around), n)][:, cols] + 1e-4
            g = base * np.exp(rng.normal(0, scale, (n, len(cols))))
        W[:, cols] = g / np.maximum(g.sum(1, keepdims=True), 1e-300)
    return W


@dataclass
class Objective:
    name: str
    mode: str
    model: object
    scale: float  # the measured range over the swarm: preference units
    best: float  # the best measured value

    def normalised(self, mean: np.ndarray) -> np.ndarray:
        """0 at the best measured value, 1 a whole measured range worse."""
        sign = 1.0 if self.mode == "min" else -1.0
        return sign * (mean - self.best) / (self.scale or 1.0)


@dataclass
class Proposal:
    weights: np.ndarray
    predicted: dict = field(default_factory=dict)  # objective -> {"mean", "sd"}
    score: float = math.nan


def _predict_all(objectives: Sequence[Objective], W: np.ndarray) -> dict:
    return {o.name: o.model.predict(W) for o in objectives}


def search(
    swarm: Swarm,
    objectives: Sequence[Objective],
    preference: Mapping[str, float],
    limits: Limits,
    bounds: Sequence[Bound] = (),
    front: bool = False,
    k: int = 1,
    seed: int = 0,
    n_candidates: int = CANDIDATES,
) -> list[Proposal]:
    """The ``k`` best distinct candidates by the preference (or up to ``k`` front points)."""
    rng = np.random.RandomState(seed)
    by_name = {o.name: o for o in objectives}

    def evaluate(W):
        W = limits.repair(W, swarm.blocks)
        preds = _predict_all(objectives, W)
        ok = limits.ok(W)
        for b in bounds:
            ok &= b.holds(preds[b.objective][0])
        score = sum(w * by_name[n].normalised(preds[n][0]) for n, w in preference.items())
        return W[ok], {n: (m[ok], s[ok]) for n, (m, s) in preds.items()}, np.asarray(score)[ok]

    W, preds, score = evaluate(np.vstack([candidates(swarm, n_candidates, rng), swarm.weights]))
    for r in range(REFINE_ROUNDS):
        if not len(W):
            break
        top = W[np.argsort(score)[:20]]
        W2, p2, s2 = evaluate(candidates(swarm, n_candidates // 2, rng, top, 0.5 / (r + 1)))
        W = np.vstack([W, W2])
        preds = {n: tuple(np.concatenate([preds[n][i], p2[n][i]]) for i in (0, 1)) for n in preds}
        score = np.concatenate([score, s2])
    if not len(W):
        raise ConfigError(
            "--constraint",
            "",
            "no candidate mixture satisfies the constraints (bounds on the "
            "weights and on the predicted objectives); loosen them",
        )
    if front:
        oriented = [[preds[o.name][0][i] for o in objectives] for i in range(len(W))]
        idx = pareto_front(oriented, [o.mode for o in objectives])
        idx = sorted(idx, key=lambda i: score[i])
    else:
        idx = list(np.argsort(score))
    picked: list[int] = []
    for i in idx:
        if all(np.abs(W[i] - W[j]).sum() >= DISTINCT_L1 for j in picked):
            picked.append(int(i))
        if len(picked) == k:
            break
    return [
        Proposal(
            weights=W[i],
            predicted={
                n: {"mean": float(preds[n][0][i]), "sd": float(preds[n][1][i])} for n in preds
            },
            score=float(score[i]),
        )
        for i in picked
    ]


def partial_dependence(swarm: Swarm, obj: Objective, at: np.ndarray, points: int = 11) -> dict:
    """Predicted value (mean, sd) as one simplex column's weight goes from 0 to its largest
    observed weight, the others of ``at`` rescaled in proportion."""
    out = {}
    for b in swarm.blocks:
        if b.onehot:
            continue
        cols = list(b.columns)
        for j in cols:
            top = float(max(swarm.weights[:, j].max(), at[j]))
            grid = np.linspace(0.0, top, points)
            W = np.repeat(at[None, :], points, axis=0)
            others = [c for c in cols if c != j]
            rest = at[others].sum()
            for r, w in enumerate(grid):
                W[r, others] = at[others] * (1 - w) / rest if rest > 0 else (1 - w) / len(others)
                W[r, j] = w
            mean, sd = obj.model.predict(W)
            out[swarm.columns[j]] = {
                "weight": grid.round(6).tolist(),
                "mean": mean.tolist(),
                "sd": sd.tolist(),
            }
    return out


def plot_partial_dependence(pd_: Mapping[str, dict], objective: str, path: str) -> None:
    # imported here, not at the top: matplotlib: 0.4 s, only for the report's plot
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(pd_)
    cols = min(6, len(names)) or 1
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        c = pd_[name]
        w, m, s = np.array(c["weight"]), np.array(c["mean"]), np.array(c["sd"])
        ax.plot(w, m, color="C0")
        ax.fill_between(w, m - 1.96 * s, m + 1.96 * s, color="C0", alpha=0.25)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(
        f"predicted {objective} vs each weight (others in proportion; 95% band)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dirichlet_point(weights: Mapping[str, Mapping[str, float]], min_weight: float) -> dict:
    """Parameters of the dirichlet parametrisation that give exactly these phase weights:
    w = m + (1 - n m) v with v = -log(u) normalised, so u = exp(-v) (in [e^-1, 1])."""
    point = {}
    for phase, ws in weights.items():
        if phase == "init":
            continue
        n = len(ws)
        for source, w in ws.items():
            v = max(0.0, (w - min_weight) / (1 - n * min_weight))
            point[f"w_{phase}_{source}"] = round(math.exp(-v), 9)
    return point
