"""A lost head: the driver of a run on S3 (with the Ray it started) is SIGKILLed and its local
disk state deleted; a second head (its own cache, Ray temp dir and ports) continues the run from
S3 alone. Finished trials are not retrained, none is lost, the study keeps its history and ends
with nothing RUNNING, and its finished trials are exactly the records'."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.helpers import REPO, TINY, make_bucket, run_cli, session_temp

pytestmark = pytest.mark.slow


def _head_env(tag: str) -> dict:
    """One machine's local state: the cache (datasets, models, the journal's copy) and Ray's."""
    return {
        "CODEMIX_CACHE": session_temp(f"cm-{tag}-cache-"),
        "CODEMIX_RAY_TEMP_DIR": session_temp(f"cm-{tag}-"),
    }


def test_a_new_head_resumes_a_run_on_s3_and_loses_nothing(s3_endpoint):
    import optuna
    import s3fs

    bucket = make_bucket("heads")
    storage, run = f"{bucket}/runs", f"{bucket}/runs/r"
    fs = s3fs.S3FileSystem()
    first_head = _head_env("head1")
    timeline = [("start", time.time())]
    args = ["--space", TINY, "--storage", storage, "--name", "r",
            "early_stopping.scheduler=none", "budget.samples=3"]  # fmt: skip
    # Its own session: the driver and the Ray it starts are one process group, killed together.
    proc = subprocess.Popen(
        [sys.executable, os.path.join("codemix_search", "run.py"), *args],
        cwd=REPO, env={**os.environ, **first_head}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    done: dict[str, str] = {}
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not done:
            assert proc.poll() is None, "the run ended before its head could be lost"
            fs.invalidate_cache()
            done = {
                p: fs.info(p)["ETag"]
                for p in fs.glob(f"{run[len('s3://') :]}/trials/*/result.json")
            }
            time.sleep(1)
        assert done, "no trial finished in time"
        timeline.append(("first trial finished on S3", time.time()))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    timeline.append(("head SIGKILLed", time.time()))
    for path in first_head.values():  # the head's disk is gone with it
        shutil.rmtree(path, ignore_errors=True)
    fs.invalidate_cache()
    assert not fs.exists(f"{run}/_SUCCESS") and fs.exists(f"{run}/tune")

    out = run_cli("--resume", "--name", "r", "--storage", storage, timeout=900,
                  env=_head_env("head2"))  # fmt: skip
    timeline.append(("second head finished", time.time()))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    fs.invalidate_cache()
    assert fs.exists(f"{run}/_SUCCESS") and fs.exists(f"{run}/recipes/_SUCCESS")
    for path, etag in done.items():
        assert fs.info(path)["ETag"] == etag, "a finished trial was trained again"
    records = [json.loads(x) for x in fs.cat(f"{run}/records.jsonl").decode().splitlines()]
    assert len(records) == 3 and all(r["status"] == "finished" for r in records), records
    ids = {r["trial_id"] for r in records}
    assert {p.split("/")[-2] for p in done} <= ids
    # The study, read from the run on S3 with Optuna's own journal reader.
    local = tempfile.mktemp(suffix=".journal")
    fs.get(f"{run}/optuna.journal", local)
    study = optuna.load_study(
        study_name="tiny",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(local)),
    )
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states, states
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["trial_id"] for t in complete) == sorted(ids)
    t0 = timeline[0][1]
    print("timeline:", ", ".join(f"{what} +{t - t0:.0f} s" for what, t in timeline))
