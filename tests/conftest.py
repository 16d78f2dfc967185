"""Shared test setup: offline HF, a private cache, and helpers to run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "search_spaces", "tiny.yaml")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
_CACHE = tempfile.mkdtemp(prefix="cm-test-cache-")
os.environ.setdefault("CODEMIX_CACHE", os.path.join(_CACHE, "codemix"))
os.environ.setdefault("HF_HOME", os.path.join(_CACHE, "hf"))


def run_cli(
    *args: str, timeout: float = 600, env: dict | None = None, cwd: str = REPO
) -> subprocess.CompletedProcess:
    """`python codemix_search/run.py ARGS` from the repo root, exactly as the README says."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, os.path.join("codemix_search", "run.py"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture()
def short_tmp():
    """A short temp path: Ray's unix sockets live under its temp dir (107-byte limit)."""
    d = tempfile.mkdtemp(prefix="cm-", dir="/tmp")
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny demo dataset, built once per test session (cached under CODEMIX_CACHE)."""
    from codemix_search.data.build import prepare_data
    from codemix_search.space import load_space
    from codemix_search.storage import Folder

    space = load_space(TINY)
    return prepare_data(
        space.data.preset,
        space.data.vocab_size,
        (REPO,),
        Folder(str(tmp_path_factory.mktemp("data"))),
    )
