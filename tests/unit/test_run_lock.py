"""One live driver per run folder (storage/lock.py), on a local folder."""

import json
import os
import socket
import time

import pytest

from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder
from codemix_search.storage.lock import LOCK, STALE_S, RunLock


def test_a_second_driver_is_refused_while_the_first_holds_the_run(tmp_path):
    run = Folder(str(tmp_path))
    with RunLock(run):
        held = json.loads((tmp_path / LOCK).read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        with pytest.raises(ConfigError, match=f"pid {os.getpid()}.*pick another --name"):
            RunLock(run).acquire()
    assert not (tmp_path / LOCK).exists()  # released
    with RunLock(run) as again:
        assert again.took_over is None


def test_a_lock_whose_holder_is_gone_is_taken_over(tmp_path):
    run = Folder(str(tmp_path))
    old = time.time() - 2 * STALE_S
    # This host, no heartbeat for twice STALE_S (a driver that was SIGKILLed long ago).
    run.write_json(LOCK, {"host": socket.gethostname(), "pid": os.getpid(), "token": "x",
                          "started": old, "heartbeat": old})  # fmt: skip
    with RunLock(run) as lock:
        assert lock.took_over["token"] == "x"
    # Another host with a fresh heartbeat: alive, refused.
    run.write_json(LOCK, {"host": "elsewhere", "pid": 1, "token": "y",
                          "started": time.time(), "heartbeat": time.time()})  # fmt: skip
    with pytest.raises(ConfigError, match="on elsewhere"):
        RunLock(run).acquire()
    assert json.loads((tmp_path / LOCK).read_text())["token"] == "y"  # left as it was


def _contend(path: str, barrier, done, results) -> None:
    run = Folder(path)
    barrier.wait()  # both drivers start their takeover at the same moment
    try:
        lock = RunLock(run).acquire()
    except ConfigError:
        results.put("refused")
        done.wait()
        return
    results.put("won")
    done.wait()  # hold the run until the other driver has decided
    lock.release()


def test_two_drivers_taking_over_one_stale_lock_never_both_win(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for i in range(30):
        path = tmp_path / f"run{i}"
        path.mkdir()
        old = time.time() - 2 * STALE_S
        (path / LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 7,
                                             "token": "gone", "started": old, "heartbeat": old}))  # fmt: skip
        barrier, done, results = ctx.Barrier(2), ctx.Barrier(3), ctx.Queue()
        procs = [
            ctx.Process(target=_contend, args=(str(path), barrier, done, results)) for _ in "ab"
        ]
        for p in procs:
            p.start()
        got = sorted(results.get(timeout=30) for _ in procs)
        done.wait()
        for p in procs:
            p.join(timeout=30)
        outcomes.append(got)
        assert got == ["refused", "won"], (i, got)
        assert not (path / "run.lock.takeover").exists()
    print(f"{len(outcomes)} races, one winner each")
