"""A `ray start --head` of our own for tests: loopback, its own temp dir and ports, its own
process group, ended by that group's id (never `ray stop`, which ends every Ray on the machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.helpers import session_temp

RAY_BIN = os.path.join(os.path.dirname(sys.executable), "ray")  # the venv's, beside this Python


def wait_until(check, timeout: float, interval: float):
    """Poll ``check()`` until it returns a truthy value or ``timeout`` passes; return its last value."""
    deadline = time.time() + timeout
    value = check()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = check()
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ray_head(
    args: list[str], env: dict | None = None, prefix: str = "cm-head-", port: int | None = None
):
    """Start a head with ``args`` added (``{temp}`` in them is its temp dir); yield a dict with
    the GCS ``address``, dashboard ``url``, ``env`` and ``temp``; end it and everything it
    started (fake autoscaled nodes included: they run in its process group). ``port``: the GCS
    port, when something (an autoscaling config) must name it before the head starts."""
    temp = session_temp(prefix)
    port, dash = port or free_port(), free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # every node on loopback
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        **(env or {}),
    }
    proc = subprocess.Popen(
        [
            RAY_BIN,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--dashboard-port={dash}",
            "--dashboard-host=127.0.0.1",
            f"--temp-dir={temp}",
            "--include-dashboard=true",
            *(a.replace("{temp}", temp) for a in args),
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{dash}"

    def up() -> bool:
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        try:
            with urllib.request.urlopen(url + "/api/version", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        if not wait_until(up, timeout=120, interval=0.5):
            pytest.fail("ray head did not come up in 120 s")
        yield {"address": f"127.0.0.1:{port}", "url": url, "env": env, "temp": temp}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        subprocess.run(["rm", "-rf", temp], check=False)
