"""A search stopped by a signal (SIGTERM from a scheduler, or Ctrl-C: SIGTERM is turned into
Tune's own SIGINT handling) ends cleanly: unfinished trials are recorded as interrupted (not as
pruned, and not counted as compute early stopping saved), what finished is exported, the run is
not marked finished (exit 130), and --resume finishes it without retraining what finished.
Both run from another working folder with a relative --storage, as a user in their own project
folder would: every path a Ray worker receives is resolved on the driver."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO, TINY, run_cli, session_temp

pytestmark = pytest.mark.slow


def test_sigterm_interrupts_cleanly_and_resume_finishes(tmp_path):
    storage = tmp_path / "runs"
    run = storage / "r"
    env = {**os.environ, "CODEMIX_RAY_TEMP_DIR": session_temp("cm-ray-")}
    args = ["--space", TINY, "--storage", "runs", "--name", "r",
            "early_stopping.scheduler=none", "budget.samples=3",
            "training.init=scratch"]  # fmt: skip  (no base: ~30 s the interruption does not need)
    proc = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "codemix_search", "run.py"), *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 600
        done: list[str] = []
        while time.time() < deadline and not done:
            done = glob.glob(str(run / "trials" / "*" / "result.json"))
            assert proc.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.5)
        assert done, "no trial finished in time"
        os.kill(proc.pid, signal.SIGTERM)  # the driver only, as a batch scheduler does
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        else:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever Ray left in the session
            except ProcessLookupError:
                pass
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out and "interrupted:" in out and "--resume --name r" in out
    assert not (run / "_SUCCESS").exists() and not (run / "run.lock").exists()
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    statuses = [r["status"] for r in records]
    assert "interrupted" in statuses and "pruned" not in statuses, statuses
    assert statuses.count("finished") >= len(done)
    ledger = json.loads((run / "ledger.json").read_text())
    assert ledger["totals"]["saved_tokens"] == 0  # nothing was early-stopped
    first = {p: os.stat(p).st_mtime_ns for p in done}
    # The study agrees: nothing RUNNING; the interrupted trials FAIL with their reason.
    study = _study(run)
    states = {
        t.user_attrs["trial_id"]: (t.state.name, t.user_attrs.get("status")) for t in study.trials
    }
    interrupted = {r["trial_id"] for r in records if r["status"] == "interrupted"}
    assert "RUNNING" not in {s for s, _ in states.values()}, states
    assert all(states[t] == ("FAIL", "interrupted") for t in interrupted), states

    resumed = run_cli(
        "--resume", "--name", "r", "--storage", "runs", timeout=900, cwd=str(tmp_path),
        env={"CODEMIX_RAY_TEMP_DIR": session_temp("cm-ray-")},
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert (run / "_SUCCESS").exists()
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["status"] == "finished" for r in records)
    for path, mtime in first.items():
        assert os.stat(path).st_mtime_ns == mtime, "a finished trial was run again"
    complete = [t for t in _study(run).trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["trial_id"] for t in complete) == sorted(
        r["trial_id"] for r in records
    )
    assert "RUNNING" not in {t.state.name for t in _study(run).trials}


def _study(run):
    import optuna

    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{run / 'optuna.db'}")
