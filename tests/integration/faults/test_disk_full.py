"""A disk that fills mid-search: the run's storage is a real 96 MiB tmpfs (in a mount namespace of
its own) that the test fills once the first trial has finished. The trials it hits fail with the
real cause; the searcher stops starting new ones; at the end the driver, unable to save, still
prints the table of what finished and one line saying storage is full (exit 1, no _SUCCESS)."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO, TINY, session_temp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0,
        reason="no mount namespace here for a private tmpfs",
    ),
]


def test_a_full_disk_fails_the_trials_it_hits_and_the_driver_still_reports(tmp_path):
    mnt = session_temp("cm-full-")
    script = f'mount --make-rprivate / && mount -t tmpfs -o size=96m tmpfs {mnt} && exec "$@"'
    args = [sys.executable, os.path.join(REPO, "codemix_search", "run.py"), "--space", TINY,
            "--storage", f"{mnt}/runs", "--name", "r", "early_stopping.scheduler=none",
            "budget.samples=3", "budget.concurrency=1"]  # fmt: skip
    env = {**os.environ, "CODEMIX_RAY_TEMP_DIR": session_temp("cm-ray-"),
           "CODEMIX_STORAGE_RETRY_S": "2"}  # fmt: skip
    proc = subprocess.Popen(
        ["unshare", "--mount", "sh", "-c", script, "sh", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    # The driver's view of the tmpfs, from outside its mount namespace.
    seen = f"/proc/{proc.pid}/root{mnt}/runs/r/trials"
    try:
        deadline = time.time() + 600
        first = []
        while time.time() < deadline and not first:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            if os.path.isdir(seen):
                first = [t for t in os.listdir(seen) if os.path.exists(f"{seen}/{t}/result.json")]
            time.sleep(0.5)
        assert first, "no trial finished in time"
        with open(f"/proc/{proc.pid}/root{mnt}/filler", "wb") as f:  # fill the disk
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal_kill())
            proc.wait()
        subprocess.run(["rm", "-rf", mnt], check=False)
    assert proc.returncode == 1, err[-3000:]
    with open("/tmp/cm-disk-full.log", "w") as f:  # kept for a failing run's post-mortem
        f.write(out + "\n----\n" + err)
    # Ray logs the failed trial's and its failed state syncs' tracebacks (as for any errored
    # trial); nothing escapes the driver itself (its frames would name run.py's entry).
    assert "guarded(main)()" not in err and "TypeError" not in out + err, err[-4000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no space left" in last, last
    assert "not saved: the run's storage refused the export" in out
    rows = [line for line in out.splitlines() if first[0] in line]
    assert rows and "finished" in rows[-1], out[-3000:]  # what finished is still reported
    # The trial the full disk hit: its cause, as plain text, not a pickling TypeError.
    assert "no space left" in err.lower() and "StorageError.__init__" not in err


def signal_kill():
    import signal

    return signal.SIGKILL
