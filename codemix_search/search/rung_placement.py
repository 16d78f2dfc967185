"""Where early stopping compares trials (no Ray: the plan imports it): ASHA's milestones
before the end of training, and the report in the middle of the cooldown."""

from __future__ import annotations

from codemix_search.config.space import SearchSpace
from codemix_search.core.schedule import Schedule
from codemix_search.train.loop_config import mid_cooldown_step, report_steps


def rung_iterations(space: SearchSpace) -> list[int]:
    """The report numbers (1-based, Tune's ``training_iteration``) at which trials are compared."""
    t, es = space.training, space.early_stopping
    schedule = Schedule(t.steps, t.lr, t.cooldown_share, t.warmup_share)
    steps = report_steps(schedule, t.evals, space.evaluation.noise_checkpoints)
    last = len(steps)  # the end of training: nothing left to save but the evaluation
    milestones, k = set(), es.grace_period
    while k < last:
        milestones.add(k)
        k *= es.reduction_factor
    milestones.add(steps.index(mid_cooldown_step(schedule)) + 1)
    return sorted(m for m in milestones if 1 <= m < last)
