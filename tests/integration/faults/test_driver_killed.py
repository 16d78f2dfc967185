"""--resume: a run whose driver is killed mid-search continues from its storage; finished
trials are not rerun and every recipe is written."""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.helpers import REPO, TINY, run_cli

pytestmark = pytest.mark.slow


def test_killed_driver_resumes_without_rerunning_finished_trials(tmp_path):
    storage = tmp_path / "runs"
    ray_tmp = tempfile.mkdtemp(prefix="cm-ray-", dir="/tmp")
    env = {**os.environ, "CODEMIX_RAY_TEMP_DIR": ray_tmp}
    args = [
        "--space",
        TINY,
        "--storage",
        str(storage),
        "--name",
        "r",
        "early_stopping.scheduler=none",
    ]
    # Its own session: the driver and the Ray it starts are one process group, killed together.
    proc = subprocess.Popen(
        [sys.executable, os.path.join("codemix_search", "run.py"), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    done: list[str] = []
    try:
        while time.time() < deadline and not done:
            done = glob.glob(str(storage / "r" / "trials" / "*" / "result.json"))
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(1)
        assert done, "no trial finished in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (storage / "r" / "_SUCCESS").exists()
    first = {p: os.stat(p).st_mtime_ns for p in done}
    out = run_cli(
        "--resume",
        "--name",
        "r",
        "--storage",
        str(storage),
        timeout=900,
        env={"CODEMIX_RAY_TEMP_DIR": tempfile.mkdtemp(prefix="cm-ray-", dir="/tmp")},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = storage / "r"
    assert (run / "_SUCCESS").exists() and (run / "recipes" / "_SUCCESS").exists()
    for path, mtime in first.items():
        assert os.stat(path).st_mtime_ns == mtime, "a finished trial was run again"
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["status"] == "finished" for r in records)
    finished_before = {os.path.basename(os.path.dirname(p)) for p in first}
    assert finished_before <= {r["trial_id"] for r in records}
    # The searcher kept its history: one Optuna study, each finished trial told COMPLETE once.
    import optuna

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{run / 'optuna.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4, [t.state for t in study.trials]
    recipes = glob.glob(str(run / "recipes" / "*.yaml"))
    assert recipes and {os.path.basename(p)[: -len(".yaml")] for p in recipes} <= {
        r["trial_id"] for r in records
    }
