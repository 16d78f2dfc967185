"""The search: Ray Tune + OptunaSearch (multi-objective) + ASHA on validation loss.

Ray lives here and in trial.py / train_loop.py only. ``search()`` runs the trials and returns
plain records; ranking and export are pure (ranking.py, export.py).
"""

from __future__ import annotations

import functools
import logging
import os

import optuna
from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    TrialScheduler,
)
from ray.tune.search.optuna import OptunaSearch

from codemix_search.cluster import keep_credentials_out_of_runtime_envs
from codemix_search.config.space import SearchSpace
from codemix_search.core.plan import ResourcePlan
from codemix_search.core.records import TrialRecord, TrialStatus
from codemix_search.data.dataset import DataRef
from codemix_search.search.callbacks import (
    MetricsCallback,
    PlacementGroupReaper,
    TokenBudgetStopper,
    UnfinishedTrials,
)
from codemix_search.search.params import suggest
from codemix_search.search.trial import run_trial
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout
from codemix_search.train.loop_config import max_reports

log = logging.getLogger(__name__)


class MixtureOptunaSearch(OptunaSearch):
    """OptunaSearch that never records an unfinished trial as COMPLETE.

    Upstream, a trial stopped by the scheduler reaches ``on_trial_complete`` with its last partial
    result; with a list of metrics the values become ``[None, None]`` and the trial is told
    COMPLETE (or fails to be told at all). Here only results with ``evaluated=1`` complete;
    scheduler-stopped trials are PRUNED and errored or diverged ones FAIL.
    """

    def _setup_study(self, mode):
        super()._setup_study(mode)
        # The dashboard and study.trials_dataframe() then name the objectives, not "values_0".
        if isinstance(self._metric, list):
            self._ot_study.set_metric_names(list(self._metric))

    def suggest(self, trial_id: str):
        params = super().suggest(trial_id)
        if params is not None:  # link the Optuna trial to the run's trial folder
            self._ot_trials[trial_id].set_user_attr("trial_id", trial_id)
        return params

    def _note(self, trial_id: str, result: dict | None) -> None:
        # Multi-objective studies take no intermediate values (Trial.report); the rung metric
        # ASHA compares, its iteration and the run's ids are kept as user attributes instead.
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or not result or trial_id in self._completed_trials:
            return
        attrs = {k: float(result[k]) for k in ("rung_metric", "val_loss")
                 if isinstance(result.get(k), (int, float))}  # fmt: skip
        if "training_iteration" in result:
            attrs["training_iteration"] = int(result["training_iteration"])
        attrs |= {
            k: result[k] for k in ("mixture_id", "seed", "status") if result.get(k) is not None
        }
        try:
            for key, value in attrs.items():
                ot_trial.set_user_attr(key, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            # A resumed search replays results of trials the study already closed before the
            # driver died (its saved searcher state predates that): their attributes are set.
            pass

    def on_trial_result(self, trial_id: str, result: dict):
        self._note(trial_id, result)  # (Tune calls this only for results ASHA did not stop)
        return super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._completed_trials:
            return
        self._note(trial_id, result)
        if result and result.get("evaluated") == 1 and not error:
            return super().on_trial_complete(trial_id, result, error)
        state = optuna.trial.TrialState.FAIL
        if not error and not (result or {}).get("diverged"):
            state = optuna.trial.TrialState.PRUNED
        self._ot_study.tell(self._ot_trials[trial_id], state=state)
        self._completed_trials.add(trial_id)


def make_sampler(space: SearchSpace) -> optuna.samplers.BaseSampler:
    n_startup = max(2, min(10, space.budget.samples // 2))
    if space.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=space.seed, n_startup_trials=n_startup, multivariate=True
        )
    if space.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=space.seed, population_size=max(4, space.budget.concurrency * 2)
        )
    if space.sampler == "gp":
        return optuna.samplers.GPSampler(seed=space.seed, n_startup_trials=n_startup)
    if space.sampler == "surrogate":
        from codemix_search.search.surrogate import SurrogateSampler

        return SurrogateSampler(seed=space.seed, n_startup_trials=n_startup)
    if space.sampler == "grid":
        grid = {p.name: list(p.choices) for p in space.parameters if p.type == "categorical"}
        return optuna.samplers.GridSampler(grid, seed=space.seed)
    return optuna.samplers.RandomSampler(seed=space.seed)


def scheduler_metric(space: SearchSpace) -> tuple[str, str]:
    """The reported metric a rung compares, and its mode."""
    es = space.early_stopping
    if es.metric == "objectives":
        return "rung_metric", "min"
    return es.metric, es.mode


class BaselineKeepingASHA(ASHAScheduler):
    """ASHA that never stops the baseline: it is the reference of every relative change in the
    report (+x% vs text-only) and of the judged win-rates, so it must finish. Its results are
    kept out of the rungs, so it sets no cutoff either."""

    def __init__(self, is_baseline, **kwargs):
        super().__init__(**kwargs)
        self._is_baseline = is_baseline

    def on_trial_result(self, tune_controller, trial, result):
        if self._is_baseline(trial.config or {}):
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)


def make_scheduler(space: SearchSpace):
    es = space.early_stopping
    if es.scheduler == "none":
        return FIFOScheduler()
    metric, mode = scheduler_metric(space)
    # max_t is past the last training report (evals, the end of continued pretraining, the
    # noise points): the final report (with the objectives) comes after training, and a
    # scheduler must not cut a trial between training and its evaluation.
    common = dict(
        time_attr="training_iteration",
        metric=metric,
        mode=mode,
        max_t=max_reports(space.training.evals, space.evaluation.noise_checkpoints) + 1,
        reduction_factor=es.reduction_factor,
    )
    if es.scheduler == "hyperband":
        # Synchronous HyperBand: brackets of trials, the worse part of each stopped at each
        # rung (ASHA is its asynchronous variant, better when trials finish unevenly).
        return HyperBandScheduler(**common)
    return BaselineKeepingASHA(space.is_baseline, **common, grace_period=es.grace_period)


def tune_state_dir(run_uri: str) -> str:
    import hashlib

    from codemix_search.data.dataset import cache_root

    key = hashlib.sha256(run_uri.encode()).hexdigest()[:16]
    path = os.path.join(cache_root(), "tune", key)
    os.makedirs(path, exist_ok=True)
    return path


def search(
    space: SearchSpace,
    data: DataRef,
    run: Folder,
    plan: ResourcePlan,
    inits: dict[str, str] | None = None,
    resume: bool = False,
) -> list[TrialRecord]:
    """Run the trials; return one record per trial."""
    # Trials report validation loss during training and the objectives only at the end, so the
    # searcher's metrics are absent from the training results: relax Tune's strict check.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    keep_credentials_out_of_runtime_envs()
    local_run = run.local_path() if run.is_local else None
    optuna_storage = None
    if local_run:
        os.makedirs(local_run, exist_ok=True)
        optuna_storage = optuna.storages.RDBStorage(
            f"sqlite:///{os.path.join(local_run, RunLayout.OPTUNA_DB)}"
        )
    unfinished = UnfinishedTrials()
    searcher = MixtureOptunaSearch(
        space=functools.partial(suggest, space),
        metric=space.metric_names,
        mode=space.modes,
        sampler=make_sampler(space),
        study_name=space.name,
        storage=optuna_storage,
        points_to_evaluate=space.initial_points or None,
    )
    trainable = tune.with_resources(
        tune.with_parameters(
            run_trial,
            space=space,
            data_uri=data.uri,
            manifest=data.manifest,
            run_uri=run.uri,
            plan=plan,
            inits=inits,
        ),
        plan.driver,
    )
    # A remote run (s3://...) keeps Tune's experiment state in a local folder named after the
    # run, so `--resume --name RUN` on the same machine (the head, under `ray job submit`) finds it.
    tune_storage = local_run or tune_state_dir(run.uri)
    experiment = os.path.join(tune_storage, "tune")
    if resume and tune.Tuner.can_restore(experiment):
        # The driver died: Tune restores the experiment (finished trials stay finished, their
        # results kept; unfinished ones restart) and the searcher's saved state, so Optuna
        # goes on from the trials it has seen instead of starting a new study.
        log.info("resuming the search from %s", experiment)
        tuner = tune.Tuner.restore(
            experiment,
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=False,
        )
        return _fit(tuner, space, unfinished)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=make_scheduler(space),
            num_samples=space.budget.samples,
            max_concurrent_trials=plan.concurrency,
            reuse_actors=False,
            time_budget_s=space.budget.time_budget_s,
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=tune_storage,
            verbose=1,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            stop=TokenBudgetStopper(space.budget.max_tokens),
            callbacks=[MetricsCallback(space), PlacementGroupReaper(), unfinished],
        ),
    )
    return _fit(tuner, space, unfinished)


def _fit(tuner, space: SearchSpace, unfinished: UnfinishedTrials) -> list[TrialRecord]:
    """Tune's fit, with SIGTERM stopping it as Ctrl-C does (Tune saves its state and returns;
    otherwise SIGTERM kills the driver mid-write with a C++ stack dump)."""
    import signal

    def as_interrupt(signum, frame):
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, as_interrupt)
    UnfinishedTrials.current = None
    try:
        results = tuner.fit()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _records(results, space, (UnfinishedTrials.current or unfinished).ids)


def _trial_id_of(path: str | None, known: set[str]) -> str:
    """A trial that never reported has no ``trial_id`` metric: Tune's trial folder is named
    ``<trainable>_<trial id>_<index>_<params>``."""
    base = os.path.basename(path or "")
    return next((t for t in known if t in base.split("_")), base)


def _records(results, space: SearchSpace, unfinished: set[str] = frozenset()) -> list[TrialRecord]:
    records = []
    for r in results:
        metrics = dict(r.metrics or {})
        status = metrics.get("status")
        trial_id = metrics.get("trial_id") or _trial_id_of(r.path, unfinished)
        if r.error is not None:
            status = TrialStatus.ERROR
        elif status in (TrialStatus.FINISHED, TrialStatus.DIVERGED):
            pass
        elif trial_id in unfinished:
            status = TrialStatus.INTERRUPTED  # the search was stopped, not this trial
        else:
            status = TrialStatus.PRUNED  # stopped by the scheduler before it could be evaluated
        config = dict(r.config or {})
        mixture = space.mixture(config) if config else None
        records.append(
            TrialRecord(
                trial_id=trial_id,
                status=TrialStatus(status),
                config=config,
                mixture=mixture.to_dict() if mixture else None,
                mixture_id=mixture.id if mixture else None,
                objectives={o.name: metrics.get(o.name) for o in space.objectives}
                if status == TrialStatus.FINISHED
                else {},
                metrics={
                    k: v
                    for k, v in metrics.items()
                    if isinstance(v, (int, float, str)) and k not in ("config", "placement_group")
                },
                error=str(r.error).splitlines()[0] if r.error is not None else None,
            )
        )
    records.sort(key=lambda rec: rec.trial_id)
    return records
