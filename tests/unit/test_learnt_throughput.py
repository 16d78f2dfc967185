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
    budget.record_row(costs.Throughput("tiny", "cpu", 5000.0, 20.0, 3.0, "learnt from run y"))
    budget.record_row(costs.Throughput("tiny", "cpu", 1500.0, 14.0, 9.0, "learnt from run z"))
    rows = {(r.model, r.device): r for r in budget.learnt_rows()}
    assert set(rows) == {("tiny", "H100"), ("tiny", "cpu")}  # one pooled row per pair
    cpu = rows["tiny", "cpu"]  # the median of three runs, not the last one's row
    assert (cpu.tokens_per_s, cpu.overhead_s, cpu.eval_s) == (4000.0, 14.0, 3.0)
    assert cpu.runs == 3 and cpu.tokens_per_s_range == (1500.0, 5000.0)
    assert rows["tiny", "H100"].runs == 1 and rows["tiny", "H100"].tokens_per_s == 9e5
    pooled = budget.cost_plan(space)
    slow, fast = pooled.wall_seconds_range[1], pooled.wall_seconds_range[0]
    assert fast < pooled.wall_seconds < slow  # the spread a plan shows
    assert "at the 3 runs' fastest and slowest" in budget.plan_table(pooled, space)
    for i in range(budget.KEEP_RUNS + 5):  # the table keeps the last KEEP_RUNS of a pair
        budget.record_row(costs.Throughput("tiny", "cpu", 100.0 + i, 1.0, 1.0, f"run {i}"))
    assert {(r.model, r.device): r.runs for r in budget.learnt_rows()}[
        "tiny", "cpu"
    ] == budget.KEEP_RUNS
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
