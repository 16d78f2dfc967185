"""The search: Ray Tune + OptunaSearch (multi-objective) + ASHA on validation loss.

Ray lives here and in trial.py / train_loop.py only. ``search()`` runs the trials and returns
plain records; ranking and export are pure (ranking.py, export.py).
"""

from __future__ import annotations

import logging
import os
import socket
import time

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler
from ray.tune.search.optuna import OptunaSearch

from codemix_search import metrics, ranking
from codemix_search.data.build import DataRef
from codemix_search.ledger import trial_cost
from codemix_search.plan import ResourcePlan, embedded_cluster_resources, plan_resources
from codemix_search.space import SearchSpace
from codemix_search.storage import Folder
from codemix_search.trial import run_trial

log = logging.getLogger(__name__)


class MetricsCallback(tune.Callback):
    """Search-level Prometheus metrics from the driver: trials by status, hypervolume of the
    current front, device-seconds and eval time (codemix_search/metrics.py)."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.status: dict[str, str] = {}
        self.values: dict[str, list[float]] = {}

    def _publish(self) -> None:
        for status in ("running", "finished", "pruned", "diverged", "error"):
            n = sum(s == status for s in self.status.values())
            metrics.record("codemix_trials", n, status=status)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.status[trial.trial_id] = "running"
        self._publish()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("evaluated") == 1 and trial.trial_id not in self.values:
            self.values[trial.trial_id] = [result[n] for n in self.space.metric_names]
            front = list(self.values.values())
            metrics.record("codemix_best_hypervolume", ranking.hypervolume(front, self.space.modes))
            metrics.record(
                "codemix_eval_seconds", result.get("eval_seconds", 0), trial=trial.trial_id
            )
        if result.get("diverged"):
            self.status[trial.trial_id] = "diverged"

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = trial.last_result or {}
        if self.status.get(trial.trial_id) != "diverged":
            self.status[trial.trial_id] = "finished" if result.get("evaluated") == 1 else "pruned"
        # The same device-seconds as the run's cost ledger (a stopped trial counts Tune's clock).
        record = {"status": self.status[trial.trial_id], "config": trial.config, "metrics": result}
        spent = trial_cost(record, self.space, self.space.data.vocab_size)["device_seconds"]
        metrics.record("codemix_device_seconds_total", spent)
        self._publish()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.status[trial.trial_id] = "error"
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

    def stop_all(self) -> bool:
        return self.max_tokens is not None and sum(self.tokens.values()) >= self.max_tokens


class MixtureOptunaSearch(OptunaSearch):
    """OptunaSearch that never records an unfinished trial as COMPLETE.

    Upstream, a trial stopped by the scheduler reaches ``on_trial_complete`` with its last partial
    result; with a list of metrics the values become ``[None, None]`` and the trial is told
    COMPLETE (or fails to be told at all). Here only results with ``evaluated=1`` complete;
    scheduler-stopped trials are PRUNED and errored or diverged ones FAIL.
    """

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._completed_trials:
            return
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
        from codemix_search.surrogate import SurrogateSampler

        return SurrogateSampler(seed=space.seed, n_startup_trials=n_startup)
    if space.sampler == "grid":
        grid = {p.name: list(p.choices) for p in space.parameters if p.type == "categorical"}
        return optuna.samplers.GridSampler(grid, seed=space.seed)
    return optuna.samplers.RandomSampler(seed=space.seed)


def make_scheduler(space: SearchSpace):
    es = space.early_stopping
    if es.scheduler == "none":
        return FIFOScheduler()
    # max_t is past the last training report (evals, plus one at the end of continued
    # pretraining): the final report (with the objectives) comes after training, and a
    # scheduler must not cut a trial between training and its evaluation.
    common = dict(
        time_attr="training_iteration",
        metric=es.metric,
        mode=es.mode,
        max_t=space.training.evals + 2,
        reduction_factor=es.reduction_factor,
    )
    if es.scheduler == "hyperband":
        # Synchronous HyperBand: brackets of trials, the worse part of each stopped at each
        # rung (ASHA is its asynchronous variant, better when trials finish unevenly).
        return HyperBandScheduler(**common)
    return ASHAScheduler(**common, grace_period=es.grace_period)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ray(address: str | None, concurrency: int, temp_dir: str | None = None) -> bool:
    """Connect to a cluster (address or RAY_ADDRESS, as under `ray job submit`) or start an
    embedded one on loopback. Returns True when we started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    res = embedded_cluster_resources(os.cpu_count() or 2, concurrency)
    ray.init(
        num_cpus=res["num_cpus"],
        resources=res["resources"],
        # The dashboard serves the state API that Train V2 uses to free a stopped trial's
        # placement group; without it stopped trials leak reservations and later trials hang.
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=_free_port(),
        _node_ip_address="127.0.0.1",
        _temp_dir=temp_dir or os.environ.get("CODEMIX_RAY_TEMP_DIR") or None,
        log_to_driver=False,
        configure_logging=False,
    )
    return True


# Ray Tune copies these from the driver's environment into each trainable's runtime_env, and
# Ray's runtime-env agent logs every runtime_env in plain text (logs/runtime_env_agent.log): a
# user's AWS keys would end up in Ray's logs. Trials get credentials the way the driver's own
# Ray processes do: the embedded cluster's workers inherit the driver's environment; cluster
# nodes use their instance role / service account (cluster/).
CREDENTIAL_VARS = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECURITY_TOKEN",
    "AWS_SESSION_TOKEN",
}


def _keep_credentials_out_of_runtime_envs() -> None:
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE = set(class_cache.ENV_VARS_TO_PROPAGATE) - CREDENTIAL_VARS


def tune_state_dir(run_uri: str) -> str:
    import hashlib

    from codemix_search.data.build import cache_root

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
) -> list[dict]:
    """Run the trials; return one record per trial (plain dicts)."""
    # Trials report validation loss during training and the objectives only at the end, so the
    # searcher's metrics are absent from the training results: relax Tune's strict check.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    _keep_credentials_out_of_runtime_envs()
    local_run = run.local_path() if run.is_local else None
    optuna_storage = None
    if local_run:
        os.makedirs(local_run, exist_ok=True)
        optuna_storage = optuna.storages.RDBStorage(
            f"sqlite:///{os.path.join(local_run, 'optuna.db')}"
        )
    searcher = MixtureOptunaSearch(
        space=space.suggest,
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
        return _records(tuner.fit(), space)
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
            callbacks=[MetricsCallback(space), PlacementGroupReaper()],
        ),
    )
    return _records(tuner.fit(), space)


def _records(results, space: SearchSpace) -> list[dict]:
    records = []
    for r in results:
        metrics = dict(r.metrics or {})
        status = metrics.get("status")
        if r.error is not None:
            status = "error"
        elif status not in ("finished", "diverged"):
            status = "pruned"  # stopped by the scheduler before it could be evaluated
        config = dict(r.config or {})
        mixture = space.mixture(config) if config else None
        records.append(
            {
                "trial_id": metrics.get("trial_id") or os.path.basename(r.path or ""),
                "status": status,
                "config": config,
                "mixture": mixture.to_dict() if mixture else None,
                "mixture_id": mixture.id if mixture else None,
                "objectives": {o.name: metrics.get(o.name) for o in space.objectives}
                if status == "finished"
                else {},
                "metrics": {
                    k: v
                    for k, v in metrics.items()
                    if isinstance(v, (int, float, str)) and k not in ("config", "placement_group")
                },
                "error": str(r.error).splitlines()[0] if r.error is not None else None,
            }
        )
    records.sort(key=lambda rec: rec["trial_id"])
    return records


def plan_for(space: SearchSpace) -> ResourcePlan:
    t = space.training
    return plan_resources(
        ray.cluster_resources(),
        t.workers,
        t.cpus_per_worker,
        t.use_gpu,
        space.budget.concurrency,
        backend=t.dist_backend,
    )
