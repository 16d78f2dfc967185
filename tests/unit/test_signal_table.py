"""The run's signal table takes seed noise from its own replicas or from a calibrate run beside
it with the same fingerprint, and without either says so instead of "ranks mixtures"."""

from __future__ import annotations

import dataclasses

import pytest

from codemix_search.config.load import load_space
from codemix_search.core.records import TrialRecord
from codemix_search.export import signal
from codemix_search.storage.folder import Folder
from tests.helpers import TINY


def record(i, code, mixture, seed_offset=0):
    return TrialRecord(
        f"t{i}",
        "finished",
        mixture_id=mixture,
        config={"code_fraction": 0.1 * i if mixture != "m0" else 0.0, "seed_offset": seed_offset},
        objectives={"nl_reasoning": 3.0 + 0.001 * i, "code": code},
    )


@pytest.fixture()
def space():
    return load_space(TINY)


def test_without_seed_noise_no_objective_is_called_a_ranking(tmp_path, space):
    run = Folder(str(tmp_path / "run"))
    rows = [record(i, 3.0 + i, f"m{i}") for i in range(4)]
    table = signal.signal_table(rows, space, run)
    assert table["code"]["seed_noise"] is None and table["code"]["signal"] == 3.0
    assert table["code"]["verdict"].startswith("seed noise not measured")


def test_the_runs_own_replicas_give_seed_noise(tmp_path, space):
    run = Folder(str(tmp_path / "run"))
    rows = [record(i, 3.0 + i, f"m{i}") for i in range(4)]
    rows.append(record(9, 3.1, "m0", seed_offset=1))  # t0 again with another seed
    rows[0] = dataclasses.replace(rows[0], config={**rows[4].config, "seed_offset": 0})
    table = signal.signal_table(rows, space, run)
    code = table["code"]
    assert code["seed_noise"] == pytest.approx(0.1 / 2**0.5)
    assert code["seed_df"] == 1 and "this run's replicas" in code["seed_source"]
    # range 3.0 over 0.0707: SNR 42 against q(5 trials, 1 dof) = 37.1
    assert code["threshold"] == pytest.approx(37.08, abs=0.05)
    assert code["verdict"].startswith("ranks mixtures")
    assert table["nl_reasoning"]["verdict"].startswith("not resolved")


def test_a_calibration_beside_the_run_is_found_by_fingerprint(tmp_path, space):
    rows = [record(i, 3.0 + 0.05 * i, f"m{i}") for i in range(4)]
    cal = {"objectives": {"code": {"seed_noise": 0.02, "mixtures": 4, "replicas": 8}}}
    Folder(str(tmp_path / "other")).write_json(
        "calibration.json", {**cal, "fingerprint": "not-this-space"}
    )
    run = Folder(str(tmp_path / "run"))
    assert signal.signal_table(rows, space, run)["code"]["seed_noise"] is None
    Folder(str(tmp_path / "cal")).write_json(
        "calibration.json", {**cal, "fingerprint": signal.fingerprint(space)}
    )
    code = signal.signal_table(rows, space, run)["code"]
    assert code["seed_noise"] == 0.02 and code["seed_df"] == 4
    assert code["seed_source"] == f"calibration {tmp_path / 'cal'}"
    # 0.15 over 0.02: SNR 7.5 > q(4 trials, 4 dof) = 5.76
    assert code["verdict"].startswith("ranks mixtures: SNR 7.5 > 5.8")
    # another model size is another fingerprint: its seed noise does not carry over
    bigger = dataclasses.replace(space, training=dataclasses.replace(space.training, model="demo"))
    assert signal.fingerprint(bigger) != signal.fingerprint(space)


def test_ties_need_seed_noise(space):
    front = [
        TrialRecord("a", "finished", objectives={"nl_reasoning": 3.0, "code": 3.0}),
        TrialRecord("b", "finished", objectives={"nl_reasoning": 3.01, "code": 3.02}),
    ]
    table = {
        "nl_reasoning": {"noise": 0.02, "seed_noise": 0.02},
        "code": {"noise": 0.02, "seed_noise": 0.02},
    }
    assert signal.tied_members(front, space, table) == {"a": ["b"], "b": ["a"]}
    table["code"]["seed_noise"] = None  # item noise alone is not what a rerun shows
    assert signal.tied_members(front, space, table) == {"a": [], "b": []}
