"""A user's preference over the objectives (pure): weights and constraints, the scalar a
search, its early stopping and ``codemix_search pick`` rank trials by.

Objectives differ in scale: on the demo, code BPB spans 0.67 across trials, the others
0.01-0.19, so a raw mean of BPBs is code BPB. Each objective is therefore scaled before it is
weighted, by its noise (what a rerun would change it by: the scale a user can act on) when known,
else by its range over the trials compared (min 0, max 1). The scalar is "higher is better"
whatever the modes.

A constraint is ``<objective> <= <bound>`` or ``>=``, the bound a number or ``baseline`` (the
baseline trial's value of that objective): ``code <= baseline`` keeps mixtures whose code BPB is
no worse than the text-only baseline's. A trial's violation is how far it is on the wrong side
(0 when it holds), in the objective's units: Optuna's constraint convention (<= 0 feasible).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=)\s*(baseline|[-+0-9.eE]+)\s*$")


class PreferenceError(ValueError):
    """A weight or constraint that cannot be read; its text says which and how to fix it."""


@dataclass(frozen=True)
class Constraint:
    objective: str
    op: str
    """``<=`` or ``>=``."""
    bound: float | None
    """A number, or None for the baseline's value."""

    @classmethod
    def parse(cls, text: str, objectives: Sequence[str]) -> Constraint:
        m = _CONSTRAINT.match(str(text))
        if not m:
            raise PreferenceError(f"{text!r}: write '<objective> <= <number or baseline>' (or >=)")
        name, op, bound = m.groups()
        if name not in objectives:
            raise PreferenceError(f"{text!r}: {name} is not an objective ({', '.join(objectives)})")
        if bound == "baseline":
            return cls(name, op, None)
        try:
            value = float(bound)
        except ValueError:
            raise PreferenceError(f"{text!r}: {bound!r} is not a number") from None
        if not math.isfinite(value):
            raise PreferenceError(f"{text!r}: the bound must be finite")
        return cls(name, op, value)

    def violation(self, value: float, baseline: Mapping[str, float] | None = None) -> float | None:
        """How far ``value`` is on the wrong side (0: holds); None when the bound is the
        baseline's and the baseline has no value yet."""
        bound = self.bound
        if bound is None:
            bound = (baseline or {}).get(self.objective)
            if bound is None:
                return None
        gap = value - bound if self.op == "<=" else bound - value
        return max(0.0, gap)

    def __str__(self) -> str:
        bound = "baseline" if self.bound is None else f"{self.bound:g}"
        return f"{self.objective} {self.op} {bound}"


@dataclass(frozen=True)
class Preference:
    """Weights over objectives (missing ones weigh 0) and constraints."""

    weights: Mapping[str, float] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def parse(
        cls, weights: Mapping[str, object], constraints: Sequence[str], objectives: Sequence[str]
    ) -> Preference:
        w = {}
        for name, value in weights.items():
            if name not in objectives:
                raise PreferenceError(f"weight {name}: not an objective ({', '.join(objectives)})")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PreferenceError(f"weight {name}: {value!r} is not a number")
            if not math.isfinite(value) or value < 0:
                raise PreferenceError(f"weight {name}: {value} must be finite and >= 0")
            w[name] = float(value)
        if w and not any(w.values()):
            raise PreferenceError("weights: at least one must be > 0")
        return cls(w, tuple(Constraint.parse(c, objectives) for c in constraints))

    @property
    def weighted(self) -> bool:
        return any(self.weights.values())

    def weights_for(self, objectives: Sequence[str]) -> Mapping[str, float]:
        """The weights, or every objective weighing 1 when none is given (equal weights)."""
        return self.weights if self.weighted else {n: 1.0 for n in objectives}

    def violations(
        self, values: Mapping[str, float], baseline: Mapping[str, float] | None = None
    ) -> list[float]:
        """One violation per constraint (unknown ones count 0: no evidence against the trial)."""
        out = []
        for c in self.constraints:
            v = c.violation(values[c.objective], baseline) if c.objective in values else None
            out.append(0.0 if v is None else v)
        return out

    def feasible(self, values: Mapping[str, float], baseline=None) -> bool:
        return not any(v > 0 for v in self.violations(values, baseline))


def scales(
    rows: Sequence[Sequence[float]], noise: Sequence[float | None] | None = None
) -> list[float]:
    """Per objective, what one unit of it is: its noise when given (and > 0), else its range
    over ``rows``; 1 when the rows do not vary (nothing to scale)."""
    out = []
    for j in range(len(rows[0]) if rows else 0):
        sigma = noise[j] if noise else None
        if sigma is not None and sigma > 0:
            out.append(float(sigma))
            continue
        col = [r[j] for r in rows if math.isfinite(r[j])]
        spread = (max(col) - min(col)) if col else 0.0
        out.append(spread if spread > 0 else 1.0)
    return out


def scores(
    rows: Sequence[Sequence[float]],
    names: Sequence[str],
    modes: Sequence[str],
    weights: Mapping[str, float],
    noise: Sequence[float | None] | None = None,
) -> list[float]:
    """The preference scalar of each row (higher is better): sum of weight x objective, each
    objective signed by its mode and divided by its scale (``scales``), relative to the best
    row's value so the numbers read as 'scaled units behind the best' (<= 0)."""
    if not rows:
        return []
    unit = scales(rows, noise)
    best = [(min if m == "min" else max)(r[j] for r in rows) for j, m in enumerate(modes)]
    out = []
    for r in rows:
        s = 0.0
        for j, (n, m) in enumerate(zip(names, modes, strict=True)):
            w = weights.get(n, 0.0)
            if w:
                behind = (r[j] - best[j]) if m == "min" else (best[j] - r[j])
                s -= w * behind / unit[j]
        out.append(s)
    return out


def rank(
    rows: Sequence[Sequence[float]],
    names: Sequence[str],
    modes: Sequence[str],
    preference: Preference,
    baseline: Mapping[str, float] | None = None,
    noise: Sequence[float | None] | None = None,
) -> list[int]:
    """Row indices best first: feasible rows by the preference scalar, then infeasible ones by
    their total violation (Deb's rule: a feasible trial beats any infeasible one)."""
    s = scores(rows, names, modes, preference.weights_for(names), noise)
    viol = [sum(preference.violations(dict(zip(names, r, strict=True)), baseline)) for r in rows]
    return sorted(range(len(rows)), key=lambda i: (viol[i] > 0, viol[i], -s[i]))
