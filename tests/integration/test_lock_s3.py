"""The run lock on a real S3 server (moto on loopback, through s3fs): the lock is created with
a conditional PUT (If-None-Match: *), so of two creators exactly one wins, as on a local disk."""

from __future__ import annotations

import json
import time

import pytest

from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder
from codemix_search.storage.lock import LOCK, STALE_S, RunLock


@pytest.fixture
def bucket(s3_endpoint):
    from tests.helpers import make_bucket

    return make_bucket(f"locks-{time.time_ns()}")


def test_exclusive_create_is_a_conditional_put(bucket):
    run = Folder(f"{bucket}/run")
    assert run.create_exclusive("x", b"first") is True
    assert run.create_exclusive("x", b"second") is False
    assert run.read_text("x") == "first"


def test_the_run_lock_on_s3_refuses_a_second_driver_and_takes_over_a_stale_one(bucket):
    run = Folder(f"{bucket}/run")
    with RunLock(run):
        with pytest.raises(ConfigError, match="pick another --name"):
            RunLock(run).acquire()
    assert not run.exists(LOCK)
    old = time.time() - 2 * STALE_S
    run.write_text(LOCK, json.dumps({"host": "gone-host", "pid": 1, "token": "stale",
                                     "started": old, "heartbeat": old}))  # fmt: skip
    with RunLock(run) as lock:
        assert lock.took_over["token"] == "stale"
        assert run.read_json(LOCK)["token"] == lock.token
        assert not run.exists("run.lock.takeover")
