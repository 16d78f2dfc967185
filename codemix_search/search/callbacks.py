"""Tune callbacks and stoppers of the search driver: Prometheus metrics, freeing placement groups
a stopped trial left behind, and the token budget."""

from __future__ import annotations

import logging
import signal
import time

import ray
from ray import tune

from codemix_search.config.space import SearchSpace
from codemix_search.core import ranking
from codemix_search.core.ledger import trial_cost
from codemix_search.core.records import TrialRecord, TrialReport, TrialStatus
from codemix_search.observability import prometheus as metrics

log = logging.getLogger(__name__)


class MetricsCallback(tune.Callback):
    """Search-level Prometheus metrics from the driver: trials by status, hypervolume of the
    current front, device-seconds and eval time (codemix_search/observability/prometheus.py)."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.status: dict[str, str] = {}  # a TrialStatus, or "running"
        self.values: dict[str, list[float]] = {}

    def _publish(self) -> None:
        for status in ("running", *(s.value for s in TrialStatus)):
            n = sum(s == status for s in self.status.values())
            metrics.record("codemix_trials", n, status=status)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.status[trial.trial_id] = "running"
        self._publish()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        report = TrialReport.of(result)
        if report.evaluated and trial.trial_id not in self.values:
            self.values[trial.trial_id] = [result[n] for n in self.space.metric_names]
            front = list(self.values.values())
            metrics.record("codemix_best_hypervolume", ranking.hypervolume(front, self.space.modes))
            metrics.record("codemix_eval_seconds", report.eval_seconds, trial=trial.trial_id)
        if report.diverged:
            self.status[trial.trial_id] = TrialStatus.DIVERGED

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = trial.last_result or {}
        if self.status.get(trial.trial_id) is not TrialStatus.DIVERGED:
            done = TrialReport.of(result).evaluated
            self.status[trial.trial_id] = TrialStatus.FINISHED if done else TrialStatus.PRUNED
        # The same device-seconds as the run's cost ledger (a stopped trial counts Tune's clock).
        record = TrialRecord(
            trial.trial_id, self.status[trial.trial_id], trial.config, metrics=result
        )
        spent = trial_cost(record, self.space, self.space.data.vocab_size).device_seconds
        metrics.record("codemix_device_seconds_total", spent)
        self._publish()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.status[trial.trial_id] = TrialStatus.ERROR
        self._publish()


class PlacementGroupReaper(tune.Callback):
    """Frees the Train worker group of a trial that ended, if Ray Train did not.

    When a scheduler stops a trial, Tune ends the trial's actor; the Train controller it owns dies
    with it, but the workers' placement group belongs to the job, not the controller. Train V2
    frees it from a detached cleaner that polls the state API for the controller's liveness; under
    CPU contention (2 cores, 4 trials) that poll can fail and the group stays reserved. On a
    2-CPU machine two leaked 1-CPU groups starve every later trial forever (seen in a demo run).

    So each training report names its placement group, and ``grace_s`` after the trial ended
    (Train's own cleanup takes ~1-3 s; the trial actor is long gone by then, so no controller can
    still be using it) the driver removes the group if it is still there. It asks the GCS through
    ``ray.util.placement_group_table`` and never the state API. At the end of the search every
    ended trial's group is removed at once.
    """

    def __init__(self, grace_s: float = 30.0, clock=time.monotonic):
        self.grace_s = grace_s
        self.clock = clock
        self.group: dict[str, str] = {}  # trial id -> placement group id (hex)
        self.ended: dict[str, tuple[str, float]] = {}  # pg id -> (trial id, when it ended)
        self.reaped: list[tuple[str, str]] = []  # (trial id, pg id) removed by us

    def on_trial_result(self, iteration, trials, trial, result, **info):
        pg = result.get("placement_group")
        if pg:
            self.group[trial.trial_id] = pg

    def _ended(self, trial) -> None:
        pg = self.group.pop(trial.trial_id, None)
        if pg:
            self.ended[pg] = (trial.trial_id, self.clock())

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ended(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._ended(trial)

    def on_step_begin(self, iteration, trials, **info):
        self.reap()

    def on_experiment_end(self, trials, **info):
        self.reap(force=True)

    def reap(self, force: bool = False) -> None:
        # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
        from ray.util.placement_group import PlacementGroup, remove_placement_group

        now = self.clock()
        for pg_hex, (trial_id, ended) in list(self.ended.items()):
            if not force and now - ended < self.grace_s:
                continue
            del self.ended[pg_hex]
            try:
                pg = PlacementGroup(ray.PlacementGroupID.from_hex(pg_hex))
                state = ray.util.placement_group_table(pg).get("state")
                if state in (None, "REMOVED"):
                    continue
                remove_placement_group(pg)
            except Exception as e:  # noqa: BLE001 - freeing is best effort, never fatal
                log.warning(
                    "could not free placement group %s of trial %s: %s", pg_hex, trial_id, e
                )
                continue
            self.reaped.append((trial_id, pg_hex))
            log.warning(
                "freed placement group %s that trial %s left behind (%s)", pg_hex, trial_id, state
            )


class TokenBudgetStopper(tune.Stopper):
    """Stops the whole search once the trials' training tokens add up to ``max_tokens``
    (each trial's latest reported ``tokens`` counts; pruned trials count what they used)."""

    def __init__(self, max_tokens: int | None):
        self.max_tokens = max_tokens
        self.tokens: dict[str, int] = {}

    def __call__(self, trial_id: str, result: dict) -> bool:
        if "tokens" in result:
            self.tokens[trial_id] = int(result["tokens"])
        return False

    hit = False
    """Set (on the class: Tune may hand the experiment a restored copy) once the budget
    stopped the search; the trials it cut are recorded as such, not as pruned."""

    def stop_all(self) -> bool:
        if self.max_tokens is not None and sum(self.tokens.values()) >= self.max_tokens:
            TokenBudgetStopper.hit = True
            return True
        return False


class UnfinishedTrials(tune.Callback):
    """Whether the search was stopped by a signal, and which trials were still running or
    waiting then: those are interrupted, neither finished nor stopped by the scheduler.

    Tune installs its own SIGINT handler when the experiment starts (it stops the loop, saves
    the experiment state for a restore, and leaves unfinished trials unfinished); ``setup``
    runs after that and chains a handler that first notes the signal."""

    current: UnfinishedTrials | None = None
    """The instance of the experiment running now (a restored experiment brings its own copy
    of the callback from Tune's saved state)."""

    def __init__(self):
        self.interrupted = False
        self.ids: set[str] = set()
        self.last_open: set[str] = set()

    def setup(self, **info):

        UnfinishedTrials.current = self
        tune_handler = signal.getsignal(signal.SIGINT)

        def noted(signum, frame):
            self.interrupted = True
            if callable(tune_handler):
                tune_handler(signum, frame)
            else:
                raise KeyboardInterrupt

        try:
            signal.signal(signal.SIGINT, noted)
        except ValueError:
            pass  # not the main thread (Tune inside a thread): Tune's own handling stays

    def on_step_end(self, iteration, trials, **info):
        # Tune's cleanup marks every trial TERMINATED before on_experiment_end: what was still
        # running or waiting is read at each step (the loop stops at the step the signal ends).
        if not self.interrupted:
            self._open = {t.trial_id for t in trials if t.status not in ("TERMINATED", "ERROR")}

    def on_experiment_end(self, trials, **info):
        # what was open at the last step: interrupted by the signal, or cut by a budget
        self.last_open = set(getattr(self, "_open", ()))
        self.ids = self.last_open if self.interrupted else set()

    def __getstate__(self):  # Tune saves callbacks with its experiment state
        return {"interrupted": False, "ids": set(), "last_open": set()}
