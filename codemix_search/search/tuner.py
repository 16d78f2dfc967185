"""The search: Ray Tune + OptunaSearch (multi-objective) + ASHA on validation loss.

Ray lives here and in trial.py / train_loop.py only. ``search()`` runs the trials and returns
plain records; ranking and export are pure (ranking.py, export.py).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import time

import optuna
from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    TrialScheduler,
)

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
from codemix_search.search.optuna_params import distributions, suggest
from codemix_search.search.progress import ProgressLine
from codemix_search.search.rungs import ObjectiveRungs
from codemix_search.search.study import (
    STUDY_WRITE_ERRORS,
    MixtureOptunaSearch,
    constraints_func,
    finished_on_storage,
    open_study_storage,
    rebuild_history,
    reconcile,
    recover_records,
)
from codemix_search.search.trial import run_trial
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout
from codemix_search.train.loop_config import max_reports

log = logging.getLogger(__name__)


def make_sampler(space: SearchSpace) -> optuna.samplers.BaseSampler:
    n_startup = max(2, min(10, space.budget.samples // 2))
    # the preference's constraints steer TPE, NSGA-II and GP (Optuna's constraints_func:
    # feasible trials first), not only early stopping and pick
    feasible = constraints_func(space)
    if space.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=space.seed, n_startup_trials=n_startup, multivariate=True,
            constraints_func=feasible,
        )  # fmt: skip
    if space.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=space.seed, population_size=max(4, space.budget.concurrency * 2),
            constraints_func=feasible,
        )  # fmt: skip
    if space.sampler == "gp":
        return optuna.samplers.GPSampler(
            seed=space.seed, n_startup_trials=n_startup, constraints_func=feasible
        )
    if space.sampler == "surrogate":
        # imported here, not at the top: search.surrogate pulls optuna
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
    if es.scheduler == "asha" and es.metric == "objectives":
        return ObjectiveRungs(space)  # the preference, or the front (search/rungs.py)
    if es.scheduler == "hyperband":
        # Synchronous HyperBand: brackets of trials, the worse part of each stopped at each
        # rung (ASHA is its asynchronous variant, better when trials finish unevenly).
        return HyperBandScheduler(**common)
    return BaselineKeepingASHA(space.is_baseline, **common, grace_period=es.grace_period)


def search(
    space: SearchSpace,
    data: DataRef,
    run: Folder,
    plan: ResourcePlan,
    inits: dict[str, str] | None = None,
    resume: bool = False,
    console: ProgressLine | None = None,
    verbose: bool = False,
) -> list[TrialRecord]:
    """Run the trials; return one record per trial. ``console``: the one-line progress view
    (search/progress.py); ``verbose``: Tune's status tables as well."""
    # Trials report validation loss during training and the objectives only at the end, so the
    # searcher's metrics are absent from the training results: relax Tune's strict check.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    keep_credentials_out_of_runtime_envs()
    layout = RunLayout(run)
    optuna_storage, study_rebuilt = open_study_storage(run, resume)
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
    # Tune's experiment state lives in the run folder, on S3 for a remote run: `--resume --name
    # RUN` restores it on any machine, a new head with an empty disk included.
    tune_storage = run.local_path() if run.is_local else run.uri
    experiment = (
        os.path.join(tune_storage, RunLayout.TUNE) if run.is_local else run.file(RunLayout.TUNE)
    )
    unfinished = UnfinishedTrials()
    # (Tune's saved searcher points at the study: with the study started again, Tune's state
    # cannot be restored either; what finished is kept from storage below.)
    if resume and not study_rebuilt and tune.Tuner.can_restore(experiment):
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
        return _end(_fit(tuner, space, unfinished), space, layout, optuna_storage)
    # Without Tune's state (lost, or never saved), a resumed search keeps what finished on
    # storage and runs only the rest of the budget; the study keeps its history.
    finished = finished_on_storage(layout) if resume else {}
    done = len(finished)
    if done:
        rebuilt = rebuild_history(optuna_storage, space, layout, finished)
        log.info(
            "Tune state not restored from %s: %d finished trials kept from storage (%d put back "
            "into the study)",
            experiment,
            done,
            rebuilt,
        )
    console = console or ProgressLine(space, space.budget.samples)
    scheduler = make_scheduler(space)
    extra = {"callbacks": [console], "verbose": 1 if verbose else 0, "scheduler": scheduler}
    tuner = _new_tuner(
        space, trainable, plan, optuna_storage, tune_storage, unfinished,
        space.budget.samples - done, **extra,
    )  # fmt: skip
    records = _fit(tuner, space, unfinished) if space.budget.samples > done else []
    if getattr(scheduler, "decisions", None):  # what each rung decided, and why
        layout.folder.write_text(
            RunLayout.RUNGS,
            "".join(json.dumps(d, sort_keys=True) + "\n" for d in scheduler.decisions),
        )
    return _end(records, space, layout, optuna_storage)


def make_searcher(space: SearchSpace, storage, initial: bool = True) -> MixtureOptunaSearch:
    """The searcher of a run: Optuna on the space's study (``initial``: with the space's
    initial points, unless those were tried before Tune's state was lost)."""
    searcher = MixtureOptunaSearch(
        space=functools.partial(suggest, space),
        metric=space.metric_names,
        mode=space.modes,
        sampler=make_sampler(space),
        study_name=space.name,
        storage=storage,
        points_to_evaluate=(space.initial_points or None) if initial else None,
    )
    searcher.preference = space.preference
    if space.sampler != "grid" and space.branching.variants > 1:
        kept = tuple(n for n in distributions(space) if n not in space.cooldown_param_names)
        searcher.variants = (space.branching.variants, kept)
    return searcher


def _new_tuner(
    space, trainable, plan, optuna_storage, tune_storage, unfinished, samples: int,
    callbacks: list, verbose: int, scheduler,
):  # fmt: skip
    """A Tuner for ``samples`` trials (the budget less what finished before Tune's state was
    lost; the initial points then were tried already)."""
    searcher = make_searcher(space, optuna_storage, initial=samples == space.budget.samples)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=max(1, samples),
            max_concurrent_trials=plan.concurrency,
            reuse_actors=False,
            time_budget_s=space.budget.time_budget_s,
        ),
        run_config=tune.RunConfig(
            name=RunLayout.TUNE,
            storage_path=tune_storage,
            verbose=verbose,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            # Tune's default copies its state to cloud storage every 300 s: a head lost in
            # between loses that much of it (finished results survive on storage regardless).
            sync_config=tune.SyncConfig(sync_period=30),
            stop=TokenBudgetStopper(space.budget.max_tokens),
            callbacks=[MetricsCallback(space), PlacementGroupReaper(), unfinished, *callbacks],
        ),
    )
    return tuner


def _end(records, space: SearchSpace, layout: RunLayout, optuna_storage) -> list[TrialRecord]:
    """The records completed from storage, and the study made to agree with them."""
    records = recover_records(records, layout, space)
    try:
        told = reconcile(optuna_storage, space.name, records, space)
    except STUDY_WRITE_ERRORS as e:  # a full disk or lost bucket: the records still stand
        log.warning("the Optuna study could not be brought up to date (%s)", type(e).__name__)
        return records
    if told:
        log.info("%d Optuna trials left RUNNING were told what became of them", told)
    return records


def _fit(tuner, space: SearchSpace, unfinished: UnfinishedTrials) -> list[TrialRecord]:
    """Tune's fit, with SIGTERM stopping it as Ctrl-C does (Tune saves its state and returns;
    otherwise SIGTERM kills the driver mid-write with a C++ stack dump)."""

    def as_interrupt(signum, frame):
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, as_interrupt)
    UnfinishedTrials.current = None
    TokenBudgetStopper.hit = False
    started = time.monotonic()
    try:
        results = tuner.fit()
    except Exception as e:  # noqa: BLE001 - only the unreadable-results case, re-raised otherwise
        if not isinstance(e, (EOFError, OSError)) and type(e).__name__ != "UnpicklingError":
            raise
        # Tune builds its results from files in the experiment folder; on a disk that filled
        # up they are empty (a trial's pickled error: "Ran out of input"). What finished is on
        # storage: the records are rebuilt from it (_end).
        log.error("Tune could not read its results back (%s: %s); records come from the "
                  "finished results on storage", type(e).__name__, str(e)[:200])  # fmt: skip
        return []
    finally:
        signal.signal(signal.SIGTERM, previous)
    seen = UnfinishedTrials.current or unfinished
    cut_by = None
    if not seen.interrupted:
        if TokenBudgetStopper.hit:
            cut_by = "budget.max_tokens"
        elif space.budget.time_budget_s and (
            time.monotonic() - started >= 0.99 * space.budget.time_budget_s
        ):
            cut_by = "budget.time_budget_s"
    cut = seen.last_open if cut_by else set()
    return _records(results, space, seen.ids, cut, cut_by)


def _trial_id_of(path: str | None, known: set[str]) -> str:
    """A trial that never reported has no ``trial_id`` metric: Tune's trial folder is named
    ``<trainable>_<trial id>_<index>_<params>``."""
    base = os.path.basename(path or "")
    return next((t for t in known if t in base.split("_")), base)


def _records(
    results,
    space: SearchSpace,
    unfinished: set[str] = frozenset(),
    cut: set[str] = frozenset(),
    cut_by: str | None = None,
) -> list[TrialRecord]:
    """Tune's results as records. ``unfinished``: open when a signal stopped the search;
    ``cut``: open when the budget (``cut_by``) did. Both are interrupted, never pruned (the
    scheduler did not stop them; early stopping saved nothing there)."""
    records = []
    for r in results:
        metrics = dict(r.metrics or {})
        status = metrics.get("status")
        trial_id = metrics.get("trial_id") or _trial_id_of(r.path, unfinished | cut)
        if r.error is not None:
            status = TrialStatus.ERROR
        elif status in (TrialStatus.FINISHED, TrialStatus.DIVERGED):
            pass
        elif trial_id in cut:
            status = TrialStatus.INTERRUPTED
            metrics["stopped_by"] = cut_by
        elif trial_id in unfinished or space.early_stopping.scheduler == "none":
            # The search was stopped, not this trial (without a scheduler nothing prunes: a
            # trial the stop caught between its last report and Tune's bookkeeping was seen
            # "pruned" on a loaded machine)
            status = TrialStatus.INTERRUPTED
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
                error=error_cause(r.error) if r.error is not None else None,
            )
        )
    records.sort(key=lambda rec: rec.trial_id)
    return records


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*?):\s*(.+)$")


def error_cause(error: BaseException) -> str:
    """The line that says why a trial failed, as plain text: Ray wraps a worker's exception in
    headers ("Training failed due to worker errors:", coloured actor names); the cause is the
    last ``SomeError: message`` line of its traceback."""
    text = _ANSI.sub("", str(error))
    causes = [m.group(0) for m in map(_RAISED.match, text.splitlines()) if m]
    line = causes[-1] if causes else next((x for x in text.splitlines() if x.strip()), "")
    return (line or type(error).__name__).strip()[:500]
