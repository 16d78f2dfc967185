"""Test helpers: paths, the tiny space, the CLI as a user runs it, an S3 bucket (imported by
tests; conftest.py holds only fixtures and the offline environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "search_spaces", "tiny.yaml")
# One mixture (and a scratch start) for the tests that train outside the search.
TINY_SHARES = {
    "code_fraction": 0.5,
    "synthetic_share": 0.2,
    "commit_share": 0.2,
    "cooldown_code_fraction": 0.2,
    "init": "scratch",
}

SESSION_TEMPS: list[str] = []
"""Folders the tests made under /tmp (Ray temp dirs, private caches): removed when the test
session ends (conftest.py); before, every suite run left ~20 MB of them behind, 3.9 GB here."""


def session_temp(prefix: str) -> str:
    """A short folder under /tmp (Ray's unix sockets live under its temp dir: 107-byte limit),
    removed at the end of the session, after every Ray head and run the tests started."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    SESSION_TEMPS.append(path)
    return path


def run_cli(
    *args: str, timeout: float = 600, env: dict | None = None, cwd: str = REPO
) -> subprocess.CompletedProcess:
    """`python codemix_search/run.py ARGS` from the repo root, exactly as the README says."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        # From the repo root as README says; from elsewhere (a user's project folder), by path.
        [
            sys.executable,
            os.path.join("codemix_search", "run.py")
            if cwd == REPO
            else os.path.join(REPO, "codemix_search", "run.py"),
            *args,
        ],  # fmt: skip
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_bucket(name: str) -> str:
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir(name, region_name="eu-west-1")
    s3fs.S3FileSystem.clear_instance_cache()
    return f"s3://{name}"
