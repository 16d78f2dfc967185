"""Every script in benchmarks/ runs at its smallest size (``--smoke``), so a benchmark that no
longer runs fails CI instead of rotting until someone needs its number. The smoke size checks
that it runs and prints its result, not the number itself (what each measures is in its
docstring; the committed figures are recomputed by tests/unit/test_docs_recompute.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

BENCH = os.path.join(REPO, "benchmarks")
# What each smoke run must print: its result's header or key, so a script that exits 0 having
# measured nothing fails too.
PRINTS = {
    "decision_accuracy.py": "pairwise decision accuracy",
    "eval_categories.py": '"trained"',
    "eval_cost.py": "seconds",
    "gpu_check.py": "| model | params |",
    "paper_directions.py": "|",
    "sampler_throughput.py": "ratio",
    "search_efficiency.py": "hypervolume",
    "train_overhead.py": "ratio_ray_over_bare",
    "verdicts.py": "|",
}
# Run elsewhere at their smoke size (one place each, not twice in CI).
ELSEWHERE = {
    "swarm_fit.py": "tests/integration/test_swarm_cli.py",
    "target_units.py": "tests/integration/test_target_units.py",
    "grid_points.py": "tests/integration/test_e2e_search.py (on the tiny run's folder)",
}
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RAY_AUTH_MODE": "disabled",
}


def test_every_benchmark_script_has_a_smoke_run():
    scripts = {f for f in os.listdir(BENCH) if f.endswith(".py") and not f.startswith("_")}
    assert scripts == set(PRINTS) | set(ELSEWHERE), "a benchmark without a smoke run in CI"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(PRINTS))
def test_the_benchmark_runs_at_its_smoke_size(script, tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(BENCH, script), "--smoke"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert PRINTS[script] in out.stdout, out.stdout[-2000:]
