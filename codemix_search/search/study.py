"""The Optuna side of a search: the searcher Tune drives, where its study lives, and the study
made to agree with the run's records when the search ends (however it ended).

- Local runs keep the study in ``<run>/optuna.db`` (SQLite); remote runs in
  ``<run>/optuna.journal`` (Optuna's journal, storage/journal.py), so a new head continues it.
- Trials the search lost track of (interrupted, or started by a head that died) are never left
  RUNNING: they are told FAIL with their reason in the ``status`` attribute (Optuna's own
  convention for an optimize() stopped by Ctrl-C); a trial that finished on storage is told
  COMPLETE with its objectives.
- Finished results on storage that Tune's state does not know (its state lost or older than
  the last trial) are put back into the records: a trained trial is never dropped.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from codemix_search.config.space import SearchSpace
from codemix_search.core.records import TrialRecord, TrialReport, TrialStatus
from codemix_search.errors import ConfigError, StorageError
from codemix_search.search.optuna_params import distributions
from codemix_search.storage.folder import Folder
from codemix_search.storage.journal import RunJournal
from codemix_search.storage.layout import RunLayout, TrialLayout, sqlite_path_problem

log = logging.getLogger(__name__)
# What a study's storage raises when it cannot be written (a full disk under optuna.db, S3 gone).
STUDY_WRITE_ERRORS = (optuna.exceptions.StorageInternalError, StorageError, OSError)


def open_study_storage(run: Folder, resume: bool) -> tuple[optuna.storages.BaseStorage, bool]:
    """The run's study storage, and whether it had to be started again because the one on disk
    was damaged (it is moved aside to ``optuna.db.damaged``; the caller rebuilds the history
    from the finished results on storage)."""
    if not run.is_local:
        # A journal truncated mid-line is read up to its last whole operation (Optuna's reader).
        journal = RunJournal(run.file(RunLayout.OPTUNA_JOURNAL), fresh=not resume)
        return optuna.storages.JournalStorage(journal), False
    local_run = run.local_path()
    problem = sqlite_path_problem(local_run)
    if problem:
        raise ConfigError("--storage", "", problem)
    os.makedirs(local_run, exist_ok=True)
    db = os.path.join(local_run, RunLayout.OPTUNA_DB)
    url = f"sqlite:///{db}"
    if resume and os.path.exists(db):
        try:
            storage = optuna.storages.RDBStorage(url)
            storage.get_all_studies()
            return storage, False
        except Exception as e:  # noqa: BLE001 - sqlalchemy's errors for a damaged file vary
            os.replace(db, db + ".damaged")
            log.warning(
                "%s is damaged (%s); moved to optuna.db.damaged, the study is rebuilt from the "
                "finished trials on storage",
                db,
                str(e).splitlines()[0][:200],
            )
            return optuna.storages.RDBStorage(url), True
    return optuna.storages.RDBStorage(url), False


def rebuild_history(
    storage, space: SearchSpace, run: RunLayout, finished: dict[str, dict] | None = None
) -> int:
    """Put every finished trial on storage that the study lacks into it (COMPLETE, with its
    parameters and objectives), so the sampler keeps learning from them; return how many."""
    study = optuna.create_study(
        study_name=space.name,
        storage=storage,
        directions=["minimize" if m == "min" else "maximize" for m in space.modes],
        load_if_exists=True,
    )
    known = {t.user_attrs.get("trial_id") for t in study.get_trials(deepcopy=False)}
    dists = distributions(space)
    added = 0
    if finished is None:  # (the caller may have read them already: one read per trial on S3)
        finished = finished_on_storage(run)
    for trial_id, result in sorted(finished.items()):
        folder = run.trial(trial_id).folder
        if trial_id in known or not folder.exists(TrialLayout.TRIAL):
            continue
        config = folder.read_json(TrialLayout.TRIAL).get("config") or {}
        params = {k: v for k, v in config.items() if k in dists}
        values = [result.get(o.name) for o in space.objectives]
        if len(params) != len(dists) or any(not isinstance(v, (int, float)) for v in values):
            continue  # a trial of another space version: not history this sampler can use
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: dists[k] for k in params},
                values=[float(v) for v in values],
                user_attrs={"trial_id": trial_id, "rebuilt_from_storage": True},
            )
        )
        added += 1
    flush(storage)
    return added


def flush(storage) -> None:
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, RunJournal):
        backend.flush()


CONSTRAINTS_ATTR = "constraint_violations"


@dataclass(frozen=True)
class ConstraintsFromAttrs:
    """Optuna's ``constraints_func`` for TPE / NSGA-II / GP: a finished trial's violation of
    each ``ranking.preference`` constraint (0 where it holds), set by the searcher when it tells
    the trial (a class, not a closure: Tune pickles the searcher with its sampler)."""

    n: int

    def __call__(self, trial) -> list[float]:
        return list(trial.user_attrs.get(CONSTRAINTS_ATTR, [0.0] * self.n))


def constraints_func(space) -> ConstraintsFromAttrs | None:
    constraints = space.preference.constraints
    return ConstraintsFromAttrs(len(constraints)) if constraints else None


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
            with warnings.catch_warnings():  # "experimental" in Optuna 5: nothing a user can do
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._ot_study.set_metric_names(list(self._metric))

    # The study's storage can fail mid-search (a full disk under optuna.db, S3 gone past its
    # retries): the searcher then stops suggesting, the running trials finish, and the driver
    # reports what finished. Upstream, the failed commit raised through Tune and killed it.
    def suggest(self, trial_id: str):
        if getattr(self, "_study_failed", None):
            return Searcher.FINISHED
        try:
            return self._suggest(trial_id)
        except STUDY_WRITE_ERRORS as e:
            return self._failed("suggesting a trial", e)

    def on_trial_result(self, trial_id: str, result: dict):
        try:
            return self._on_trial_result(trial_id, result)
        except STUDY_WRITE_ERRORS as e:
            self._failed("recording a result", e)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        try:
            return self._on_trial_complete(trial_id, result, error)
        except STUDY_WRITE_ERRORS as e:
            self._completed_trials.add(trial_id)
            self._failed("telling a trial's outcome", e)

    def _failed(self, what: str, e: BaseException):
        if not getattr(self, "_study_failed", None):
            log.error(
                "the Optuna study could not be written %s (%s: %s); no new trials start, the "
                "running ones finish and are reported",
                what,
                type(e).__name__,
                str(e).splitlines()[0][:200],
            )
        self._study_failed = True
        return Searcher.FINISHED

    # (variants, parameters a variant keeps): the two-level sampler of ``branching.variants``.
    variants: tuple[int, tuple[str, ...]] = (1, ())
    # ``ranking.preference``: its constraints become each finished trial's violations
    preference = None
    _baseline_values: dict | None = None

    def _suggest(self, trial_id: str):
        params = super().suggest(trial_id)
        if params is not None:  # link the Optuna trial to the run's trial folder
            self._ot_trials[trial_id].set_user_attr("trial_id", trial_id)
            self._enqueue_variants(self._ot_trials[trial_id], params)
        return params

    def _enqueue_variants(self, ot_trial, params: dict) -> None:
        """The two-level sampler: a pretraining mixture the sampler proposed is followed by
        ``variants - 1`` trials that keep it (and the init and knobs) and leave only the
        cooldown parameters to the sampler: Optuna's enqueued trials with partial fixed
        parameters. They share the prefix (train/prefix.py), so each costs only its cooldown.
        The mark is in the study, so a resumed search does not enqueue a variant's variants."""
        k, kept = self.variants
        if k <= 1 or "branch_of" in ot_trial.user_attrs:
            return
        fixed = {n: params[n] for n in kept if n in params}
        for _ in range(k - 1):
            self._ot_study.enqueue_trial(fixed, user_attrs={"branch_of": ot_trial.number})

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

    def _on_trial_result(self, trial_id: str, result: dict):
        self._note(trial_id, result)  # (Tune calls this only for results ASHA did not stop)
        return super().on_trial_result(trial_id, result)

    def _on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._completed_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        state = self._ot_study._storage.get_trial(ot_trial._trial_id).state
        if state.is_finished():
            # Told before Tune's restored state knew it: COMPLETE/PRUNED (a head died after the
            # study heard of it) stays as told; FAIL (interrupted, then resumed and rerun): the
            # rerun's outcome joins the study as a trial of its own (Optuna reopens no trial).
            if state == optuna.trial.TrialState.FAIL:
                self._add_again(ot_trial, trial_id, result, error)
            self._completed_trials.add(trial_id)
            return
        self._note(trial_id, result)
        report = TrialReport.of(result)
        if report.evaluated and not error:
            self._violations(ot_trial, result)
            return super().on_trial_complete(trial_id, result, error)
        state = optuna.trial.TrialState.FAIL
        if not error and not report.diverged:
            state = optuna.trial.TrialState.PRUNED
        self._ot_study.tell(self._ot_trials[trial_id], state=state)
        self._completed_trials.add(trial_id)

    def _violations(self, ot_trial, result: dict) -> None:
        """The preference's constraint violations, before the trial is told (Optuna's
        ``constraints_func`` reads them then); ``<= baseline`` against the baseline's result
        once it is in (before that: no evidence, 0)."""
        if self.preference is None or not self.preference.constraints:
            return
        values = {m: float(result[m]) for m in self._metric if result.get(m) is not None}
        if result.get("baseline"):
            self._baseline_values = values
        ot_trial.set_user_attr(
            CONSTRAINTS_ATTR, self.preference.violations(values, self._baseline_values)
        )

    def _add_again(self, ot_trial, trial_id: str, result: dict | None, error: bool) -> None:
        result = result or {}
        report = TrialReport.of(result)
        evaluated = report.evaluated and not error
        state = optuna.trial.TrialState.COMPLETE if evaluated else optuna.trial.TrialState.FAIL
        if not evaluated and not error and not report.diverged:
            state = optuna.trial.TrialState.PRUNED
        attrs = {"trial_id": trial_id, "resumed": True}
        attrs |= {k: result[k] for k in ("mixture_id", "seed", "status") if result.get(k)}
        self._ot_study.add_trial(
            optuna.trial.create_trial(
                state=state,
                values=[float(result[m]) for m in self._metric] if evaluated else None,
                params=ot_trial.params,
                distributions=ot_trial.distributions,
                user_attrs=attrs,
            )
        )
        self._completed_trials.add(trial_id)


def reconcile(storage, study_name: str, records: list[TrialRecord], space: SearchSpace) -> int:
    """Tell every trial still RUNNING in the study what the records say became of it; return
    how many were told. Called when the search ends, however it ended."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    by_id = {r.trial_id: r for r in records}
    told = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        record = by_id.get(t.user_attrs.get("trial_id"))
        if record is not None and record.status is TrialStatus.FINISHED and record.objectives:
            values = [record.objectives[o.name] for o in space.objectives]
            study.tell(t.number, values)
        elif record is not None and record.status is TrialStatus.PRUNED:
            study.tell(t.number, state=optuna.trial.TrialState.PRUNED)
        else:
            reason = record.status.value if record is not None else "lost"
            study._storage.set_trial_user_attr(t._trial_id, "status", reason)
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        told += 1
    flush(storage)
    return told


def finished_on_storage(run: RunLayout) -> dict[str, dict]:
    """{trial id: result.json} of every trial whose finished result is on storage."""
    out = {}
    trials = run.folder.child("trials")
    for trial_id in trials.listdir():
        folder = run.trial(trial_id).folder
        if not folder.exists(TrialLayout.RESULT):
            continue
        try:
            result = folder.read_json(TrialLayout.RESULT)
        except ValueError:
            continue  # a damaged result is not a finished one (written atomically: rare)
        report = TrialReport.of(result)
        if report.status is TrialStatus.FINISHED and report.mixture_id:
            out[trial_id] = result
    return out


def recover_records(
    records: list[TrialRecord], run: RunLayout, space: SearchSpace
) -> list[TrialRecord]:
    """``records`` plus a record for every finished result on storage they lack (Tune's state
    was lost or older than the result)."""
    known = {r.trial_id for r in records}
    extra = []
    for trial_id, result in finished_on_storage(run).items():
        if trial_id in known:
            continue
        folder = run.trial(trial_id).folder
        described = folder.read_json(TrialLayout.TRIAL) if folder.exists(TrialLayout.TRIAL) else {}
        config = described.get("config") or {}
        mixture = space.mixture(config) if config else None
        extra.append(
            TrialRecord(
                trial_id=trial_id,
                status=TrialStatus.FINISHED,
                config=config,
                mixture=mixture.to_dict() if mixture else None,
                mixture_id=result.get("mixture_id"),
                objectives={o.name: result.get(o.name) for o in space.objectives},
                metrics={k: v for k, v in result.items() if isinstance(v, (int, float, str))}
                | {"from_storage": 1},
                error=None,
            )
        )
    return sorted([*records, *extra], key=lambda r: r.trial_id)
