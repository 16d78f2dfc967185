"""The plan's throughput table learns: a finished run (or gpu_check --record) writes the row of
its (model, device) into this machine's table, and the next plan uses it instead of the
built-in row or the 30%-MFU estimate."""

import dataclasses

from codemix_search.analysis import budget
from codemix_search.config.load import load_space
from codemix_search.core import costs
from codemix_search.core.records import TrialRecord, TrialStatus
from tests.helpers import TINY


def test_a_recorded_row_replaces_the_built_in_one_and_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEMIX_CACHE", str(tmp_path))
    space = load_space(TINY)
    built_in = budget.cost_plan(space)
    assert built_in.throughput["source"].startswith("measured")
    budget.record_row(costs.Throughput("tiny", "cpu", 4000.0, 10.0, 3.0, "learnt from run x"))
    learnt = budget.cost_plan(space)
    assert learnt.throughput["tokens_per_s"] == 4000.0
    assert learnt.device_seconds < built_in.device_seconds  # twice as fast, less overhead
    gpu = budget.cost_plan(space, gpus=1, gpu_type="H100")
    assert gpu.throughput["source"].startswith("estimated")
    budget.record_row(costs.Throughput("tiny", "H100", 9e5, 40.0, 5.0, "gpu_check --record"))
    budget.record_row(costs.Throughput("tiny", "cpu", 5000.0, 10.0, 3.0, "learnt from run y"))
    rows = {(r.model, r.device): r.tokens_per_s for r in budget.learnt_rows()}
    assert rows == {("tiny", "H100"): 9e5, ("tiny", "cpu"): 5000.0}  # one row per pair
    assert budget.cost_plan(space, gpus=1, gpu_type="H100").throughput["tokens_per_s"] == 9e5
    (tmp_path / budget.LEARNT).write_text("{not json")
    assert budget.learnt_rows() == []  # a damaged cache is no table, not an error


def _rec(device, name):
    return dataclasses.replace(
        TrialRecord("t", TrialStatus.FINISHED), metrics={"device": device, "device_name": name}
    )


def test_the_device_type_of_a_run():
    assert budget.device_of([_rec("cpu", "cpu")]) == "cpu"
    assert budget.device_of([_rec("cuda", "NVIDIA H200")]) == "H200"
    assert budget.device_of([_rec("cuda", "NVIDIA H100 80GB HBM3")]) == "H100"
    assert budget.device_of([_rec("cuda", "Tesla T4")]) is None  # no row to put it in
    assert budget.device_of([_rec("cpu", "cpu"), _rec("cuda", "NVIDIA A100")]) is None
