"""Run untrusted Python (synthetic-code verification, executed code evals) in a sandbox.

Each program runs in its own process and process group, in a fresh temporary working directory
that is deleted afterwards, with an empty environment (HOME points at the temp dir), resource
limits (address space, CPU seconds, file size, open files, processes) and a wall-clock timeout that
kills the whole process group. Networking is cut twice: inside a new network namespace when the
kernel lets us make one (``unshare --net``, loopback only and down), and by a prelude that makes
socket creation raise. Python runs isolated (``-I``) so the user's site-packages and PYTHON*
variables are not seen.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

PRELUDE = r"""
import socket as _s
def _no_net(*a, **k):
    raise PermissionError("network access is disabled in the sandbox")
_s.socket = _no_net
_s.create_connection = _no_net
_s.socketpair = _no_net
del _s, _no_net
"""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 5.0
    """Wall-clock limit; the process group is killed past it."""
    memory_mb: int = 512
    """Address-space limit (RLIMIT_AS)."""
    max_processes: int = 32
    """RLIMIT_NPROC (not enforced by Linux for root; the process-group kill still ends forks)."""
    file_size_mb: int = 16

    def __post_init__(self):
        if self.timeout_s <= 0 or self.memory_mb < 32 or self.max_processes < 1:
            raise ValueError("sandbox limits must be positive (memory_mb >= 32)")


@dataclass(frozen=True)
class SandboxResult:
    status: str
    """passed | failed | timeout | crashed"""
    returncode: int | None
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _unshare_prefix() -> list[str]:
    """`unshare --net` (plus a user namespace when not root) if this kernel allows it."""
    exe = shutil.which("unshare")
    if not exe:
        return []
    for prefix in ([exe, "--net"], [exe, "--net", "--map-root-user"]):
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=5).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return prefix
    return []


_UNSHARE: list[str] | None = None


def _limits(limits: SandboxLimits):
    def apply():
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(limits.timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        fsize = limits.file_size_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_python(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Execute ``source`` as a Python program under the limits; never raises for its failures."""
    global _UNSHARE
    if _UNSHARE is None:
        _UNSHARE = _unshare_prefix()
    workdir = tempfile.mkdtemp(prefix="codemix-sandbox-")
    try:
        prog = os.path.join(workdir, "prog.py")
        with open(prog, "w", encoding="utf-8") as f:
            f.write(PRELUDE + "\n" + source)
        env = {"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        cmd = [*_UNSHARE, sys.executable, "-I", "-B", prog]
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_limits(limits),
        )
        try:
            out, err = proc.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            return SandboxResult("timeout", None, _tail(out), _tail(err))
        _kill_group(proc)  # leftovers (forked children) die with the group
        if proc.returncode == 0:
            status = "passed"
        elif proc.returncode < 0 or b"MemoryError" in err:
            status = "crashed"
        else:
            status = "failed"
        return SandboxResult(status, proc.returncode, _tail(out), _tail(err))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(b: bytes, n: int = 2000) -> str:
    return b[-n:].decode("utf-8", "replace")
