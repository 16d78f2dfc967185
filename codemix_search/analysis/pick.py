"""Preference after the fact: a finished run's trials ranked by a preference given now
(weights, constraints), with no retraining (``codemix_search pick``).

Each objective is scaled by its noise from the run's report (seed and item noise: what a rerun
would move it by) where the report measured it, else by its range over the finished trials
(core/preference.py). A trial is "within noise" of the top pick when their preference scalars
differ by less than 1.96 standard errors of that difference: each objective's noise enters
twice (both trials), weighted as in the scalar. Without any measured noise that test cannot be
made and no trial is called tied (the report says why in its signal table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from codemix_search.config.space import SearchSpace
from codemix_search.core import preference as pref
from codemix_search.core.records import TrialRecord


@dataclass(frozen=True)
class Pick:
    rank: int
    trial_id: str
    objectives: dict[str, float]
    score: float
    """The preference scalar: scaled units behind the best on each objective, weighted (<= 0)."""
    violations: dict[str, float]
    """Constraint -> how far the trial breaks it (0: kept)."""
    within_noise: bool | None
    """Its score is within noise of the top pick's (None: no noise measured to tell)."""
    mixture: dict | None


def pick(
    records: list[TrialRecord],
    space: SearchSpace,
    preference: pref.Preference,
    noise: dict[str, float | None] | None = None,
) -> list[Pick]:
    """The finished, trained trials best first (feasible ones first, Deb's rule)."""
    names, modes = space.metric_names, space.modes
    done = [r for r in records if r.finished and not r.reused_from]
    if not done:
        return []
    rows = [[r.objectives[n] for n in names] for r in done]
    base = next((r for r in done if r.is_baseline), None)
    baseline = dict(base.objectives) if base else None
    sigma = [(noise or {}).get(n) for n in names]
    weights = preference.weights_for(names)
    unit = pref.scales(rows, sigma)
    score = pref.scores(rows, names, modes, weights, sigma)
    order = pref.rank(rows, names, modes, preference, baseline, sigma)
    # sd of a difference of two trials' scalars: sum over objectives of (w/unit)^2 * 2 sigma^2
    known = [s for s in sigma if s is not None]
    sd = None
    if known and len(known) == len(sigma):
        sd = math.sqrt(
            sum(
                2 * (weights.get(n, 0.0) / u * s) ** 2
                for n, u, s in zip(names, unit, sigma, strict=True)
            )
        )
    top = score[order[0]]
    out = []
    for k, i in enumerate(order, 1):
        r = done[i]
        viol = preference.violations(r.objectives, baseline)
        tied = None if sd is None else abs(top - score[i]) < 1.96 * sd
        out.append(
            Pick(
                k, r.trial_id, dict(r.objectives), score[i],
                {str(c): v for c, v in zip(preference.constraints, viol, strict=True)},
                tied, r.mixture,
            )
        )  # fmt: skip
    return out
