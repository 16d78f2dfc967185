"""The sandbox contains hostile programs: each case names what it tries and what must happen."""

import os

import pytest

from codemix_search.sandbox import SandboxLimits, run_python

FAST = SandboxLimits(timeout_s=3, memory_mb=256)


def test_passing_and_failing_programs():
    assert run_python("assert 1 + 1 == 2", FAST).status == "passed"
    r = run_python("assert 1 + 1 == 3", FAST)
    assert r.status == "failed" and "AssertionError" in r.stderr


def test_infinite_loop_times_out():
    assert run_python("while True: pass", FAST).status == "timeout"


def test_memory_bomb_is_contained():
    r = run_python("x = bytearray(2 * 1024**3)", FAST)
    assert r.status in ("crashed", "failed") and "MemoryError" in r.stderr


def test_network_is_blocked():
    r = run_python("import socket; socket.create_connection(('127.0.0.1', 9))", FAST)
    assert r.status == "failed" and "network access is disabled" in r.stderr


def test_cannot_write_outside_its_dir_via_env_home(tmp_path):
    # HOME is the sandbox's temp dir, removed afterwards: nothing lands in the user's home.
    r = run_python(
        "import os; open(os.path.expanduser('~/marker'), 'w').write('x'); print(os.getcwd())", FAST
    )
    assert r.status == "passed"
    assert not os.path.exists(r.stdout.strip())


def test_fork_bomb_is_killed_with_its_group():
    r = run_python(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        SandboxLimits(timeout_s=2, memory_mb=128, max_processes=16),
    )
    assert r.status in ("timeout", "failed", "crashed")


@pytest.mark.parametrize("bad", [dict(timeout_s=0), dict(memory_mb=1)])
def test_bad_limits(bad):
    with pytest.raises(ValueError):
        SandboxLimits(**bad)
