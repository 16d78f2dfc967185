"""Typed contracts between stages: trial records, loop configs, errors that cross Ray."""

from __future__ import annotations

import pickle

import pytest

from codemix_search.core.records import (
    SCHEMA_VERSION,
    Cost,
    RecordError,
    TrialRecord,
    TrialStatus,
    VsBaseline,
)
from codemix_search.errors import CodemixError, ConfigError, DataError, StorageError, guarded


def test_record_round_trips_and_status_is_an_enum():
    r = TrialRecord("t1", "finished", config={"code_fraction": 0.2}, objectives={"nl": 0.5})
    assert r.status is TrialStatus.FINISHED and r.finished
    row = r.to_dict()
    assert row["status"] == "finished" and row["schema_version"] == SCHEMA_VERSION
    assert TrialRecord.from_dict(row) == r
    cost = Cost(10, 20, 1e3, 10, 1e3, 1.5, 100.0)
    costed = r.with_export(cost=cost, vs_baseline=VsBaseline("t0", {"code": 0.1}, {}, {}))
    assert costed.cost == cost and r.cost is None  # a new record, not an edit
    # what records.jsonl holds reads back as the same typed record
    assert TrialRecord.from_dict(costed.to_dict()) == costed
    assert costed.to_dict()["cost"]["device_seconds"] == 1.5
    with pytest.raises(RecordError, match="not a trial record"):
        TrialRecord.from_dict({**costed.to_dict(), "cost": {"tokens": 1}})


@pytest.mark.parametrize(
    "row, says",
    [
        ({"trial_id": "t", "status": "finished"}, "predates"),  # no schema_version: old run
        ({"trial_id": "t", "status": "lost", "schema_version": SCHEMA_VERSION}, "unknown status"),
        ({"trial_id": "t", "status": "finished", "x": 1, "schema_version": 2}, "not a trial"),
    ],
)
def test_bad_record_rows_are_named(row, says):
    with pytest.raises(RecordError, match=says):
        TrialRecord.from_dict(row, "records.jsonl:3")


@pytest.mark.parametrize(
    "err",
    [
        ConfigError("space.yaml", "training.lr", "must be > 0"),
        DataError("shard.npy", "sha256", "corrupt"),
        StorageError("s3://b/run", "unreachable for 2 s"),
    ],
)
def test_errors_survive_pickling_as_themselves(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and back.one_line() == err.one_line()
    assert isinstance(back, CodemixError)


def test_guarded_prints_one_line_with_the_error_exit_code(capsys):
    def user_error(argv):
        raise ConfigError("space.yaml", "budget.samples", "must be >= 1")

    def fault(argv):
        raise StorageError("s3://b/run", "no space left")

    assert guarded(user_error)([]) == 2
    assert guarded(fault)([]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: space.yaml: budget.samples: must be >= 1",
        "error: s3://b/run: no space left",
    ]


def test_storage_error_is_not_a_config_error():
    assert not issubclass(StorageError, ConfigError)


def test_resume_of_a_run_from_before_the_layout_is_one_line(tmp_path):
    from codemix_search.pipeline import check_request
    from codemix_search.storage.folder import Folder
    from tests.helpers import TINY

    old = Folder(str(tmp_path / "old"))
    old.write_text("space.yaml", open(TINY).read())
    old.write_json("run.json", {"name": "old", "data": {}})  # no "layout": written before
    with pytest.raises(ConfigError, match="run.json: layout: the run predates"):
        check_request(None, [], str(tmp_path), "old", True)
    old.write_json("run.json", {"name": "old", "layout": 2, "data": {}})
    assert check_request(None, [], str(tmp_path), "old", True).resume


def test_resume_refuses_what_it_would_drop_and_a_silent_change_of_data(tmp_path):
    from codemix_search.export.report import _datasets
    from codemix_search.pipeline import _data_history, check_request
    from codemix_search.storage.folder import Folder
    from tests.helpers import TINY

    run = Folder(str(tmp_path / "r"))
    run.write_text("space.yaml", open(TINY).read())
    run.write_json("run.json", {"name": "r", "layout": 2, "data": {"key": "data-A"}})
    with pytest.raises(ConfigError, match=r"budget.samples=6 would not apply"):
        check_request(None, ["budget.samples=6"], str(tmp_path), "r", True)
    with pytest.raises(ConfigError, match=r"--space x.yaml would not apply"):
        check_request("x.yaml", [], str(tmp_path), "r", True)
    with pytest.raises(ConfigError, match="only means something with --resume"):
        check_request(TINY, [], str(tmp_path), "new", False, allow_new_data=True)
    for t in ("t0", "t1"):
        run.child("trials", t).write_json("trial.json", {})
    req = check_request(None, [], str(tmp_path), "r", True)
    assert _data_history(req, run, "data-A") == []  # the same dataset: nothing to say
    with pytest.raises(ConfigError, match="data-A would now be data-B.*--allow-new-data"):
        _data_history(req, run, "data-B")
    req = check_request(None, [], str(tmp_path), "r", True, allow_new_data=True)
    history = _data_history(req, run, "data-B")
    assert history == [{"key": "data-A", "trials": ["t0", "t1"]}]
    run.write_json("run.json", {"name": "r", "layout": 2, "data": {"key": "data-B"},
                                "data_history": history})  # fmt: skip
    run.child("trials", "t2").write_json("trial.json", {})
    assert _datasets(run) == [
        {"key": "data-A", "trials": ["t0", "t1"]},
        {"key": "data-B", "trials": ["t2"]},
    ]


@pytest.mark.parametrize(
    "kind,low,high,open_low,text,ok",
    [
        (float, 0, None, True, "1e-6", True),
        (float, 0, None, True, "0", False),
        (float, None, None, False, "nan", False),
        (float, None, None, False, "-inf", False),
        (int, 1, 100, False, "100", True),
        (int, 1, 100, False, "101", False),
        (int, 0, None, False, "-4", False),
        (int, 0, None, False, "2.5", False),
    ],
)
def test_every_numeric_flag_is_finite_and_in_range(kind, low, high, open_low, text, ok):
    import argparse

    from codemix_search.errors import number

    parse = number(kind, low, high, open_low)
    if ok:
        assert parse(text) == kind(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_a_plain_float_flag_refuses_nan_in_one_line(capsys):
    from codemix_search.errors import OneLineParser

    ap = OneLineParser(prog="x")
    ap.add_argument("--t", type=float)
    assert ap.parse_args(["--t", "0.5"]).t == 0.5
    with pytest.raises(SystemExit) as e:
        ap.parse_args(["--t", "nan"])
    assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_json_output_is_strict_and_says_where_a_number_was_not_finite():
    import json
    import math

    from codemix_search.core.strict_json import strict_json

    text = strict_json({"a": 1.0, "b": [math.nan, 2], "c": {"d": math.inf}})
    out = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert out["b"] == [None, 2] and out["c"]["d"] is None
    assert out["non_finite"] == {"b[0]": "nan", "c.d": "inf"}


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    from codemix_search.core.yaml_bounds import load_bounded
    from codemix_search.storage.folder import Folder

    with pytest.raises(ConfigError, match=r"line 3: key 'lr' is given twice"):
        load_bounded("training:\n  lr: 0.1\n  lr: 10\n", "s.yaml")
    # a merge key may be overridden: that is what YAML means by it
    merged = load_bounded("base: &b {lr: 1}\nrun:\n  <<: *b\n  lr: 2\n", "s.yaml")
    assert merged["run"] == {"lr": 2}
    (tmp_path / "a.yaml").write_text("code: 1B\ncode: 2B\n")
    with pytest.raises(ConfigError, match=r"a.yaml: line 2: key 'code' is given twice"):
        Folder(str(tmp_path)).read_yaml("a.yaml")


def test_mapping_values_and_training_signs_are_checked(tmp_path):
    from codemix_search.config.load import load_space
    from tests.helpers import TINY

    for override, field in [
        ("ranking.reference_point={nl_reasoning: .nan}", "ranking.reference_point"),
        ("ranking.weights={nl_reasoning: .inf}", "ranking.weights"),
        ("training.grad_clip=-1", "training.grad_clip"),
        ("training.weight_decay=-0.1", "training.weight_decay"),
    ]:
        with pytest.raises(ConfigError, match=field):
            load_space(TINY, [override])


def test_storage_preflight_writes_where_the_run_will_and_leaves_nothing(tmp_path):
    from codemix_search.preflight import probe_folder

    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    with pytest.raises(ConfigError, match="symlink that leads nowhere"):
        probe_folder(str(tmp_path / "loop1" / "runs"), "--storage")
    with pytest.raises(ConfigError, match="File name too long"):
        probe_folder(str(tmp_path / "a" / ("x" * 300)), "--storage")
    probe_folder(str(tmp_path / "new" / "runs"), "--storage")  # fine, and nothing left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop1", "loop2"]


def test_a_malformed_project_environment_variable_is_one_line(monkeypatch):
    from codemix_search.storage.folder import retry_s

    for bad in ("abc", "nan", "-1"):
        monkeypatch.setenv("CODEMIX_STORAGE_RETRY_S", bad)
        with pytest.raises(ConfigError, match="CODEMIX_STORAGE_RETRY_S"):
            retry_s()
    monkeypatch.setenv("CODEMIX_STORAGE_RETRY_S", "3")
    assert retry_s() == 3.0


def test_a_cache_variable_naming_a_file_is_one_line(tmp_path, monkeypatch):
    from codemix_search.storage.folder import cache_root

    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("CODEMIX_CACHE", str(tmp_path / "f"))
    with pytest.raises(ConfigError, match="CODEMIX_CACHE"):
        cache_root()
