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


def test_reading_the_users_home_is_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    secret = home / ".aws" / "credentials"
    secret.write_text("aws_secret_access_key = FAKESECRET\n")
    monkeypatch.setenv("HOME", str(home))  # the user's home, as the sandbox's parent sees it
    r = run_python(f"print(open({str(secret)!r}).read())", FAST)
    assert r.status == "failed" and "FAKESECRET" not in r.stdout
    assert "the user's home" in r.stderr or "Permission" in r.stderr
    r = run_python(f"import os; print(os.listdir({str(home)!r}))", FAST)
    assert r.status == "failed" and ".aws" not in r.stdout


def test_killing_the_parent_is_refused():
    # The parent is a separate Python process here, so a failure kills it, not pytest.
    import subprocess
    import sys

    helper = (
        "from codemix_search.sandbox import SandboxLimits, run_python\n"
        "r = run_python('import os, signal; os.kill(os.getppid(), signal.SIGKILL)',"
        " SandboxLimits(timeout_s=3, memory_mb=256))\n"
        "print('parent alive', r.status)\n"
    )
    out = subprocess.run([sys.executable, "-c", helper], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "parent alive failed" in out.stdout, out


def test_escape_attempts_table(tmp_path):
    """Every escape attempt the issue lists, with its outcome: none passes."""
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    attempts = {
        "network connect": "import socket; socket.create_connection(('127.0.0.1', 22))",
        "write outside the temp dir": f"open({str(victim)!r}, 'w').write('pwned')",
        "delete a user file": f"import os; os.remove({str(victim)!r})",
        "spawn a shell": f"import os; os.system('rm {victim}')",
        "read the user's home": "import os; print(open(os.path.join("
        + repr(os.path.realpath(os.path.expanduser("~")))
        + ", '.bashrc')).read())",
        "kill the parent": "import os, signal; os.kill(os.getppid(), signal.SIGTERM)",
        "fork bomb": "import os\nwhile True:\n    os.fork()",
        "memory bomb": "x = bytearray(4 * 1024**3)",
        "infinite loop": "while True: pass",
    }
    outcomes = {name: run_python(src, FAST).status for name, src in attempts.items()}
    print("\n".join(f"{k:28s} {v}" for k, v in outcomes.items()))
    assert all(v in ("failed", "timeout", "crashed") for v in outcomes.values()), outcomes
    assert victim.read_text() == "intact"
