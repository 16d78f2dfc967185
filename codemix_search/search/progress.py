"""What the console shows during a search: one line when a trial starts or ends (and at most
every 30 s while trials train), in place of Tune's status tables (``run --verbose`` brings
those back):

    [  2.1 min] 3/12 finished, 2 stopped, 2 running | best nl_reasoning 2.912, code 1.204 | plan: ~6.3 min left

Stopped = pruned by the scheduler or diverged; the best value per objective is over the
finished trials; "left" is the plan's wall-clock (``codemix_search plan``) less the time spent,
so a run slower than planned says by how much."""

from __future__ import annotations

import sys
import time

from ray import tune

from codemix_search.config.space import SearchSpace
from codemix_search.core.records import TrialReport

EVERY_S = 30.0  # between two lines while nothing starts or ends (a 12-trial demo: ~40 lines)


class ProgressLine(tune.Callback):
    def __init__(
        self,
        space: SearchSpace,
        total: int,
        planned_wall_s: float | None = None,
    ):
        # No stream kept: Tune pickles its callbacks with the experiment (--resume restores it).
        self.space, self.total, self.planned = space, total, planned_wall_s
        self.t0 = time.time()
        self.last_line = 0.0
        self.running: set[str] = set()
        self.ended: dict[str, str] = {}  # trial id -> finished | stopped | error
        self.best: dict[str, float] = {}

    def line(self) -> str:
        elapsed = time.time() - self.t0
        counts = {k: sum(v == k for v in self.ended.values()) for k in ("finished", "stopped")}
        errors = sum(v == "error" for v in self.ended.values())
        parts = [
            f"[{elapsed / 60:5.1f} min] {counts['finished']}/{self.total} finished, "
            f"{counts['stopped']} stopped, {len(self.running)} running"
            + (f", {errors} failed" if errors else "")
        ]
        if self.best:
            parts.append("best " + ", ".join(f"{n} {v:.4g}" for n, v in self.best.items()))
        if self.planned:
            left = self.planned - elapsed
            parts.append(
                f"plan: ~{left / 60:.1f} min left"
                if left >= 0
                else f"plan: {-left / 60:.1f} min over its estimate"
            )
        return " | ".join(parts)

    def _print(self) -> None:
        self.last_line = time.time()
        print(self.line(), file=sys.stdout, flush=True)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self._print()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if time.time() - self.last_line >= EVERY_S:
            self._print()

    def on_trial_complete(self, iteration, trials, trial, **info):
        report = TrialReport.of(trial.last_result)
        self.running.discard(trial.trial_id)
        self.ended[trial.trial_id] = "finished" if report.evaluated else "stopped"
        if report.evaluated:
            for name, mode in zip(self.space.metric_names, self.space.modes, strict=True):
                value = (trial.last_result or {}).get(name)
                if value is None:
                    continue
                best = self.best.get(name)
                if best is None or (value < best if mode == "min" else value > best):
                    self.best[name] = float(value)
        self._print()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.ended[trial.trial_id] = "error"
        self._print()
