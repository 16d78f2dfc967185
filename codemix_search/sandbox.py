"""Run untrusted Python (synthetic-code verification, executed code evals) in a sandbox.

Each program runs in its own process and process group, in a fresh temporary working directory
that is deleted afterwards, with an empty environment (HOME points at the temp dir), resource
limits (address space, CPU seconds, file size, open files, processes) and a wall-clock timeout that
kills the whole process group. Networking is cut twice: inside a new network namespace when the
kernel lets us make one (``unshare --net``, loopback only and down), and by a prelude that makes
socket creation raise. Python runs isolated (``-I``) so the user's site-packages and PYTHON*
variables are not seen. An audit hook (which the program cannot remove) refuses writes, renames
and deletions outside the work dir, reading the user's home (bar the Python installation), any
process spawning (fork, exec, subprocess, ctypes) and signalling other processes.
When this process is root, the program also runs as ``nobody`` (``setpriv``), so the operating
system itself keeps it away from the user's files and ``RLIMIT_NPROC`` holds.

Where the kernel allows namespaces (root, or unprivileged user namespaces) the program also gets
its own PID and mount namespaces: every process it starts, by any call (``setsid`` and low-level
``fork_exec`` included, which no audit hook sees), dies with it, and the world-writable folders
(/tmp, /var/tmp, /dev/shm, /run/lock) are read-only views of themselves but for the work folder,
so no call creates a file outside it (``mkfifo``, ``mknod`` raise no audit event; as nobody, the
rest of the filesystem was never writable). Its output goes to files capped by ``RLIMIT_FSIZE``, and only
their tails are read: an output flood costs the verifier nothing.

Home folders (/home, /root, the user's) are covered by an empty read-only tmpfs in that
namespace, the Python installation bound back in when it lives there: a home readable by
anyone (0755) shows nothing.

The verdict does not trust the exit status: a harness runs the program as ``__main__`` and, only
when it reached its end, writes a nonce (sent on stdin before the program starts, then gone from
stdin) to a result file of the parent's; ``sys.exit(0)`` or ``os._exit(0)`` before the tests is a
failure. The audit hook's re-entrancy flag is per thread, it refuses opening a folder outside the
work dir (a ``dir_fd`` the next relative path would be resolved against, unseen by the hook) and
the interpreter introspection (``gc.get_objects`` / ``get_referrers``, ``sys._current_frames``)
that would find the nonce. A report holds the exception's class or the exit status
(``error_kind``), never what the program printed.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from codemix_search.sandbox_prelude import PRELUDE


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
        # (nan compares false to everything: checked as "not inside the range")
        if not 0 < self.timeout_s <= 86_400:
            raise ValueError(f"timeout_s must be in (0, 86400] seconds, got {self.timeout_s}")
        if not 32 <= self.memory_mb <= 1 << 20 or self.max_processes < 1:
            raise ValueError(f"memory_mb must be in [32, 1048576], got {self.memory_mb}")


def error_kind(stderr: str, returncode: int | None) -> str:
    """What went wrong, for a report: the exception's class name (``AssertionError``) or the
    exit status, never the program's own words (they may hold what it read)."""
    for line in reversed(stderr.strip().splitlines()):
        m = re.match(r"([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))\b", line)
        if m:
            return m.group(1)[:80]
        if line.startswith("sandbox: the program exited"):
            return "exited before its end"
    return f"exit status {returncode}" if returncode is not None else ""


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


# Run inside the new mount namespace as its root, before the program: every world-writable folder
# becomes a read-only view of itself (what is there, a virtualenv under /tmp included, stays
# readable; nothing can be created), then the work folder is bind-mounted over itself, writable,
# and the program is exec'd (as nobody, when setpriv is in "$@").
MOUNT_SCRIPT = r"""set -e
w="$1"; shift
mount --make-rprivate /
for d in /tmp /var/tmp /dev/shm /run/lock; do
  if [ -d "$d" ]; then mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; fi
done
mount --bind "$w" "$w"
mount -o remount,bind,rw "$w"
# Home folders ($CODEMIX_SANDBOX_HIDE): an empty read-only tmpfs over each, so no permission
# slip (a 0755 home) shows a file of theirs; the Python installation, when it lives there
# ($CODEMIX_SANDBOX_KEEP), is bound back in first through a staging mount in the work folder.
IFS=:
i=0
for k in ${CODEMIX_SANDBOX_KEEP:-}; do
  mkdir -p "$w/.keep$i"; mount --bind "$k" "$w/.keep$i"; i=$((i+1))
done
for d in ${CODEMIX_SANDBOX_HIDE:-}; do
  # a kernel that refuses tmpfs here keeps the namespaces (the hook still guards the home)
  if [ -d "$d" ]; then mount -t tmpfs -o size=1m,mode=755 tmpfs "$d" || true; fi
done
i=0
for k in ${CODEMIX_SANDBOX_KEEP:-}; do
  mkdir -p "$k"; mount --bind "$w/.keep$i" "$k"; mount -o remount,bind,ro "$k"
  umount "$w/.keep$i"; rmdir "$w/.keep$i"
  i=$((i+1))
done
for d in ${CODEMIX_SANDBOX_HIDE:-}; do
  if mountpoint -q "$d"; then mount -o remount,ro "$d" || true; fi
done
unset IFS CODEMIX_SANDBOX_HIDE CODEMIX_SANDBOX_KEEP
cd "$w"
exec "$@"
"""


def _hidden_homes(workdir: str) -> dict[str, str]:
    """The environment that tells the mount script which home folders to cover (/home,
    /root, this user's) and which Python folders under them to keep; none that holds the work
    folder."""
    home = os.path.realpath(os.path.expanduser("~"))
    hide = sorted({p for p in ("/home", "/root", home) if p not in ("/", "") and os.path.isdir(p)})
    work = os.path.realpath(workdir) + os.sep
    hide = [h for h in hide if not work.startswith(h + os.sep)]
    # nested homes (/home/u under /home) are covered by their parent's tmpfs already
    hide = [h for h in hide if not any(h != o and h.startswith(o + os.sep) for o in hide)]
    python = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    keep = sorted(p for p in python if any(p.startswith(h + os.sep) for h in hide))
    return {"CODEMIX_SANDBOX_HIDE": ":".join(hide), "CODEMIX_SANDBOX_KEEP": ":".join(keep)}


@dataclass(frozen=True)
class Isolation:
    prefix: tuple[str, ...]
    """What the program's command starts with (namespaces, the mount script)."""
    private_mounts: bool
    """The program can create files in its work folder only (world-writable folders read-only)."""


def _try(cmd: list[str], env: dict | None = None) -> bool:
    try:
        full_env = {**os.environ, **env} if env else None
        return subprocess.run(cmd, capture_output=True, timeout=10, env=full_env).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _isolation() -> Isolation:
    """The strongest isolation this kernel allows: network + PID + mount namespaces with the
    mount script; else a network namespace only; else none (the audit hook and limits remain)."""
    exe = shutil.which("unshare")
    if not exe:
        return Isolation((), False)
    probe = tempfile.mkdtemp(prefix="codemix-sandbox-probe-")
    try:
        for user in ([], ["--map-root-user"]):
            full = [exe, "--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
                    *user, "sh", "-c", MOUNT_SCRIPT, "sandbox"]  # fmt: skip
            if os.path.isdir("/var/tmp") and _try([*full, probe, "true"], _hidden_homes(probe)):
                return Isolation(tuple(full), True)
        for prefix in ([exe, "--net"], [exe, "--net", "--map-root-user"]):
            if _try([*prefix, "true"]):
                return Isolation(tuple(prefix), False)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return Isolation((), False)


_ISOLATION: Isolation | None = None


def _drop_privileges_prefix() -> list[str]:
    """Run as nobody when we are root (where file permissions would not protect anything)."""
    exe = shutil.which("setpriv")
    if os.geteuid() != 0 or not exe:
        return []
    return [exe, "--reuid=65534", "--regid=65534", "--clear-groups"]


def _cap(which: int, value: int) -> None:
    """Lower a limit to ``value``, never above what this process already has (a parent's tighter
    limit, e.g. a file-size cap, stays; raising it would fail the child's start)."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _limits(limits: SandboxLimits):
    def apply():
        _cap(resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024)
        _cap(resource.RLIMIT_CPU, int(limits.timeout_s) + 1)
        _cap(resource.RLIMIT_FSIZE, limits.file_size_mb * 1024 * 1024)
        _cap(resource.RLIMIT_NOFILE, 64)
        _cap(resource.RLIMIT_NPROC, limits.max_processes)
        _cap(resource.RLIMIT_CORE, 0)

    return apply


def run_python(source: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Execute ``source`` as a Python program under the limits; never raises for its failures."""
    global _ISOLATION
    if _ISOLATION is None:
        _ISOLATION = _isolation()
    iso = _ISOLATION
    workdir = tempfile.mkdtemp(prefix="codemix-sandbox-")
    outdir = tempfile.mkdtemp(prefix="codemix-sandbox-out-")  # not the program's to touch
    try:
        prog = os.path.join(workdir, "prog.py")
        with open(prog, "w", encoding="utf-8") as f:
            f.write(source)
        with open(os.path.join(workdir, "_run.py"), "w", encoding="utf-8") as f:
            f.write(PRELUDE)
        nonce = secrets.token_hex(16)
        env = {"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        home = os.path.realpath(os.path.expanduser("~"))
        if home not in ("/", os.path.realpath(workdir)) and not workdir.startswith(home + os.sep):
            env["CODEMIX_SANDBOX_PRIVATE"] = home + os.sep
        drop = _drop_privileges_prefix()
        if drop:
            for path in (workdir, prog, os.path.join(workdir, "_run.py")):
                os.chown(path, 65534, 65534)
        mount_args = [workdir] if iso.private_mounts else []
        if iso.private_mounts:
            env.update(_hidden_homes(workdir))  # read (and unset) by the mount script
        cmd = [*iso.prefix, *mount_args, *drop, sys.executable, "-I", "-B", "_run.py"]
        result = open(os.path.join(outdir, "done"), "wb")  # noqa: SIM115 - closed below
        cmd.append(str(result.fileno()))
        read_nonce, write_nonce = os.pipe()
        os.write(write_nonce, nonce.encode() + b"\n")  # 33 bytes: far below a pipe's buffer
        os.close(write_nonce)
        with (
            open(os.path.join(outdir, "out"), "wb") as out,
            open(os.path.join(outdir, "err"), "wb") as err,
            result as done,
        ):
            proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=env,
                stdin=read_nonce,
                stdout=out,  # files, not pipes: nothing the program starts can hold them open
                stderr=err,  # for the verifier, and RLIMIT_FSIZE caps a flood
                start_new_session=True,
                preexec_fn=_limits(limits),
                # the harness's result file (in a folder of ours the program cannot name)
                pass_fds=(done.fileno(),),
            )
            os.close(read_nonce)
            try:
                proc.wait(timeout=limits.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc)  # leftovers die with the group (and with the PID namespace)
            proc.wait()
        stdout, stderr = (
            _tail_of(os.path.join(outdir, "out")),
            _tail_of(os.path.join(outdir, "err")),
        )
        with open(os.path.join(outdir, "done"), "rb") as f:
            finished = f.read(256).splitlines()[:1] == [b"done " + nonce.encode()]
        if timed_out:
            return SandboxResult("timeout", None, stdout, stderr)
        if proc.returncode == 0 and finished:
            status = "passed"
        elif proc.returncode < 0 or "MemoryError" in stderr:
            status = "crashed"
        else:
            status = "failed"
        return SandboxResult(status, proc.returncode, stdout, stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(outdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail_of(path: str, n: int = 2000) -> str:
    """The last ``n`` bytes of a file, decoded (never the whole of a flood)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - n))
        return f.read().decode("utf-8", "replace")
