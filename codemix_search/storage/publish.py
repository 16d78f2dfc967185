"""A local folder that appears whole or not at all: built under a temporary name beside its
final place, then renamed (``publish_dir``); what a killed build left is removed by the next."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile

from codemix_search.storage.folder import SUCCESS


def _remove_orphans(parent: str, prefix: str) -> None:
    """Temporary folders of earlier builds of the same folder whose process is gone (killed
    mid-write): removed, so a rerun leaves no hidden leftovers. Names carry the builder's pid;
    one of a live process (a concurrent build) is left alone."""
    for name in os.listdir(parent):
        # <prefix><pid>-<8 random> (mkdtemp's), or an older build's <prefix><8 random>
        m = re.fullmatch(r"(?:(\d+)-)?[a-z0-9_]{8}", name[len(prefix) :])
        if not name.startswith(prefix) or not m:
            continue
        if m.group(1) and _pid_alive(int(m.group(1))):
            continue
        shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def publish_dir(final: str):
    """Build a local folder under a temporary name beside ``final`` and yield that name; on a
    clean exit write its ``_SUCCESS`` and move it into place at once (readers see all or none).
    On an error the temporary folder is removed and ``final`` is left as it was."""
    parent = os.path.dirname(os.path.abspath(final))
    os.makedirs(parent, exist_ok=True)
    prefix = f".{os.path.basename(final)}-"
    _remove_orphans(parent, prefix)
    tmp = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent)
    try:
        yield tmp
        with open(os.path.join(tmp, SUCCESS), "w") as f:
            f.write("{}")
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
