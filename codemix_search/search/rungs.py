"""Early stopping on the objectives themselves (``early_stopping.metric: objectives``), with the
user's preference or, without one, keeping the Pareto front.

ASHA compares one scalar per rung. The mean BPB of the objectives is, in practice, code BPB
(its range over the trials of the demo run the issue audited was 0.67 BPB, the others'
0.01-0.19): the shipped demo stopped
every text-initialised trial but the protected baseline. Here each rung compares the trials'
vectors of rung values (``rung/<objective>``: gold BPB on 32 items a task, train/rung_scoring.py):

- with ``ranking.preference`` weights: the preference scalar of core/preference.py, each
  objective scaled by its range over the trials at that rung; a trial continues when it is in
  the best 1/reduction_factor of them (ASHA's rule on that scalar). A trial that breaks a
  constraint against the baseline's value at the same rung stops once a trial that keeps them
  has reached the rung.
- without weights: a trial stops only when ``early_stopping.dominated_by`` trials recorded at the
  rung are at least as good on every objective and better on one (the front-keeping rule: a
  trial that is best on any objective, or on any trade-off, never stops).

Rungs: ASHA's milestones (grace period x reduction factor^k reports) before the end of
training, plus the report in the middle of the cooldown (train/loop_config.mid_cooldown_step),
so what the cooldown mixture does is seen before a trial is let through. The baseline never
stops and sets no cutoff; its rung values are the bound of ``<= baseline`` constraints.
"""

from __future__ import annotations

import logging

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from codemix_search.config.space import SearchSpace
from codemix_search.core import preference as pref
from codemix_search.core.ranking import dominates
from codemix_search.search.rung_placement import rung_iterations

log = logging.getLogger(__name__)


def decide(
    vector: list[float],
    others: list[list[float]],
    modes: list[str],
    names: list[str],
    preference: pref.Preference,
    reduction_factor: int,
    dominated_by: int,
    baseline: dict[str, float] | None = None,
) -> tuple[bool, str]:
    """(stop, why) for one trial at one rung, against the ``others`` recorded there (pure)."""
    if preference.constraints and baseline is not None:
        named = dict(zip(names, vector, strict=True))
        if not preference.feasible(named, baseline):
            feasible = [
                o for o in others if preference.feasible(dict(zip(names, o, strict=True)), baseline)
            ]
            if feasible:
                return True, "breaks a constraint that another trial at this rung keeps"
    if preference.weighted:
        rows = [*others, vector]
        s = pref.scores(rows, names, modes, preference.weights)
        cutoff = float(np.percentile(s, (1 - 1 / reduction_factor) * 100))
        if s[-1] < cutoff:
            return True, f"preference {s[-1]:.3g} below the rung's cutoff {cutoff:.3g}"
        return False, "in the best 1/reduction_factor on the preference"
    n = sum(dominates(o, vector, modes) for o in others)
    if n >= dominated_by:
        return True, f"dominated by {n} trials at this rung"
    return False, f"dominated by {n} (< {dominated_by})"


class ObjectiveRungs(FIFOScheduler):
    def __init__(self, space: SearchSpace):
        super().__init__()
        names = [o.name for o in space.objectives if o.metric == "bpb"]  # what a rung scores
        self.names = names
        self.modes = [o.mode for o in space.objectives if o.metric == "bpb"]
        self.preference = pref.Preference(
            {n: w for n, w in space.preference.weights.items() if n in names},
            tuple(c for c in space.preference.constraints if c.objective in names),
        )
        self.rungs = rung_iterations(space)
        self.reduction_factor = space.early_stopping.reduction_factor
        self.dominated_by = space.early_stopping.dominated_by
        self.is_baseline = space.is_baseline
        self.recorded: dict[int, dict[str, list[float]]] = {r: {} for r in self.rungs}
        self.baseline_at: dict[int, dict[str, float]] = {}
        self.decisions: list[dict] = []

    def on_trial_result(self, tune_controller, trial, result):
        it = result.get("training_iteration")
        if it not in self.recorded:
            return TrialScheduler.CONTINUE
        values = [result.get(f"rung/{n}") for n in self.names]
        if any(v is None for v in values):  # no rung items (a run without them)
            return TrialScheduler.CONTINUE
        if self.is_baseline(trial.config or {}):
            self.baseline_at[it] = dict(zip(self.names, values, strict=True))
            return TrialScheduler.CONTINUE
        others = list(self.recorded[it].values())
        self.recorded[it][trial.trial_id] = values
        stop, why = decide(
            values, others, self.modes, self.names, self.preference, self.reduction_factor,
            self.dominated_by, self.baseline_at.get(it),
        )  # fmt: skip
        self.decisions.append(
            {"trial_id": trial.trial_id, "rung": it, "stopped": stop, "why": why,
             "values": dict(zip(self.names, values, strict=True))}
        )  # fmt: skip
        if stop:
            log.info("stopping %s at report %d: %s", trial.trial_id, it, why)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return f"ObjectiveRungs(rungs={self.rungs}, preference={self.preference.weighted})"
