"""The study of a run: a remote run's journal survives its head, and the study ends agreeing
with the records (nothing left RUNNING), however the search ended."""

import os
import pickle
import shutil
import uuid

import fsspec
import optuna
import pytest

from codemix_search.config.load import load_space
from codemix_search.core.records import TrialRecord, TrialStatus
from codemix_search.errors import ConfigError
from codemix_search.search.study import open_study_storage, reconcile
from codemix_search.search.tuner import make_searcher
from codemix_search.storage.folder import Folder
from tests.helpers import TINY

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture()
def remote_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEMIX_CACHE", str(tmp_path / "cache"))
    return Folder(f"memory://runs-{uuid.uuid4().hex[:8]}/r")


def new_study(run):
    return open_study_storage(run, resume=False)[0]


def _searcher(space, storage):
    return make_searcher(space, storage)


def test_a_remote_study_is_on_storage_and_a_new_head_reads_it_back(remote_run, tmp_path):
    space = load_space(TINY)
    storage = new_study(remote_run)
    s = _searcher(space, storage)
    for t in ("a", "b"):
        assert s.suggest(t) is not None
    s.on_trial_complete("a", {"evaluated": 1, "nl_reasoning": 0.5, "code": 0.4})
    # Trial states reach storage at once (the journal object, not just a local file).
    journal = fsspec.filesystem("memory").cat(remote_run.file("optuna.journal"))
    assert journal.count(b"\n") >= 4
    # Tune pickles the searcher with its study; a new head unpickles it with an empty disk.
    blob = pickle.dumps(s._ot_study._storage)
    shutil.rmtree(tmp_path / "cache")
    again = pickle.loads(blob)
    study = optuna.load_study(study_name="tiny", storage=again)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING]
    assert study.trials[0].user_attrs["trial_id"] == "a"


def test_a_new_run_under_an_old_name_does_not_inherit_its_study(remote_run):
    space = load_space(TINY)
    s = _searcher(space, new_study(remote_run))
    s.suggest("a")
    fsspec.filesystem("memory").rm(remote_run.path, recursive=True)  # the old run deleted
    study = optuna.create_study(
        study_name="tiny", storage=new_study(remote_run), directions=["minimize"]
    )
    assert study.trials == []


def _record(trial_id, status, objectives=None):
    return TrialRecord(trial_id=trial_id, status=status, objectives=objectives or {})


def test_reconcile_leaves_no_trial_running(remote_run):
    space = load_space(TINY)
    storage = new_study(remote_run)
    s = _searcher(space, storage)
    ids = ["fin", "pru", "int", "err", "lost"]
    for t in ids:
        s.suggest(t)
    records = [
        _record("fin", TrialStatus.FINISHED, {"nl_reasoning": 0.7, "code": 0.3}),
        _record("pru", TrialStatus.PRUNED),
        _record("int", TrialStatus.INTERRUPTED),
        _record("err", TrialStatus.ERROR),
    ]
    assert reconcile(storage, "tiny", records, space) == 5
    study = optuna.load_study(study_name="tiny", storage=storage)
    got = {t.user_attrs["trial_id"]: (t.state, t.user_attrs.get("status")) for t in study.trials}
    S = optuna.trial.TrialState
    assert got == {
        "fin": (S.COMPLETE, None),
        "pru": (S.PRUNED, None),
        "int": (S.FAIL, "interrupted"),
        "err": (S.FAIL, "error"),
        "lost": (S.FAIL, "lost"),
    }
    assert study.trials[0].values == [0.7, 0.3]
    assert reconcile(storage, "tiny", records, space) == 0  # idempotent


def test_a_trial_rerun_after_an_interruption_joins_the_study_again(remote_run):
    space = load_space(TINY)
    storage = new_study(remote_run)
    s = _searcher(space, storage)
    s.suggest("a")
    reconcile(storage, "tiny", [_record("a", TrialStatus.INTERRUPTED)], space)  # Ctrl-C
    s.on_trial_complete("a", {"evaluated": 1, "nl_reasoning": 0.5, "code": 0.4})  # resumed
    study = optuna.load_study(study_name="tiny", storage=storage)
    S = optuna.trial.TrialState
    assert [t.state for t in study.trials] == [S.FAIL, S.COMPLETE]
    assert study.trials[1].params == study.trials[0].params
    assert study.trials[1].user_attrs["trial_id"] == "a" and study.trials[1].values == [0.5, 0.4]


def test_a_local_path_sqlite_would_misread_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="'#'"):
        new_study(Folder(str(tmp_path / "a#b")))
    assert not os.path.exists(tmp_path / "a#b")


def test_a_trial_the_study_completed_before_the_head_died_is_not_added_twice(remote_run):
    space = load_space(TINY)
    storage = new_study(remote_run)
    s = _searcher(space, storage)
    s.suggest("a")
    restored = pickle.loads(pickle.dumps(s))  # Tune's saved searcher: "a" still open there
    s.on_trial_complete("a", {"evaluated": 1, "nl_reasoning": 0.5, "code": 0.4})  # then died
    restored.on_trial_complete("a", {"evaluated": 1, "nl_reasoning": 0.5, "code": 0.4})
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]


def test_a_finished_result_on_storage_is_never_dropped_from_the_records(remote_run):
    from codemix_search.search.study import recover_records
    from codemix_search.storage.layout import RunLayout

    space = load_space(TINY)
    run = RunLayout(remote_run)
    config = {"code_fraction": 0.5, "synthetic_share": 0.1, "commit_share": 0.1,
              "cooldown_code_fraction": 0.2}  # fmt: skip
    kept = run.trial("kept").folder
    kept.write_json("trial.json", {"config": config})
    kept.write_json("result.json", {"status": "finished", "mixture_id": "m1",
                                    "nl_reasoning": 0.9, "code": 0.8, "step": 40})  # fmt: skip
    run.trial("torn").folder.write_text("result.json", '{"status": "fini')  # damaged
    run.trial("open").folder.write_json("trial.json", {"config": config})  # never finished
    known = [_record("seen", TrialStatus.FINISHED, {"nl_reasoning": 1.0, "code": 1.0})]
    records = recover_records(known, run, space)
    assert [r.trial_id for r in records] == ["kept", "seen"]
    kept_record = records[0]
    assert kept_record.status is TrialStatus.FINISHED and kept_record.config == config
    assert kept_record.objectives == {"nl_reasoning": 0.9, "code": 0.8}
    assert kept_record.mixture_id == "m1" and kept_record.metrics["from_storage"] == 1


def test_a_damaged_study_is_moved_aside_and_rebuilt_from_the_finished_trials(tmp_path):
    from codemix_search.search.study import open_study_storage, rebuild_history
    from codemix_search.storage.layout import RunLayout

    space = load_space(TINY)
    run = RunLayout(Folder(str(tmp_path / "r")))
    config = {"code_fraction": 0.5, "synthetic_share": 0.1, "commit_share": 0.1,
              "cooldown_code_fraction": 0.2}  # fmt: skip
    trial = run.trial("t1").folder
    trial.write_json("trial.json", {"config": config})
    trial.write_json("result.json", {"status": "finished", "mixture_id": "m",
                                     "nl_reasoning": 0.9, "code": 0.8})  # fmt: skip
    (tmp_path / "r" / "optuna.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)  # truncated
    storage, rebuilt = open_study_storage(run.folder, resume=True)
    assert rebuilt and (tmp_path / "r" / "optuna.db.damaged").exists()
    assert rebuild_history(storage, space, run) == 1
    assert rebuild_history(storage, space, run) == 0  # never twice
    (t,) = optuna.load_study(study_name="tiny", storage=storage).trials
    assert t.state == optuna.trial.TrialState.COMPLETE and t.values == [0.9, 0.8]
    assert t.params == config and t.user_attrs["trial_id"] == "t1"
    _, rebuilt = open_study_storage(run.folder, resume=True)
    assert not rebuilt  # the new study opens as it is
