"""Shared test setup: offline HF, a private cache, and helpers to run the CLI as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.helpers import REPO, SESSION_TEMPS, TINY

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
_CACHE = tempfile.mkdtemp(prefix="cm-test-cache-")
SESSION_TEMPS.append(_CACHE)  # datasets, tokenizers, bases: ~17 MB a session
os.environ.setdefault("CODEMIX_CACHE", os.path.join(_CACHE, "codemix"))
os.environ.setdefault("HF_HOME", os.path.join(_CACHE, "hf"))


@pytest.fixture()
def short_tmp():
    """A short temp path: Ray's unix sockets live under its temp dir (107-byte limit)."""
    d = tempfile.mkdtemp(prefix="cm-", dir="/tmp")
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny demo dataset, built once per test session (cached under CODEMIX_CACHE)."""
    import dataclasses

    from codemix_search.config.load import load_space
    from codemix_search.data.build import prepare_space_data
    from codemix_search.demo.make_sources import space_sources
    from codemix_search.storage.folder import Folder

    space = load_space(TINY)
    space = dataclasses.replace(space, data=dataclasses.replace(space.data, commit_repos=(REPO,)))
    return prepare_space_data(
        space, *space_sources(space), Folder(str(tmp_path_factory.mktemp("data"))), engine="local"
    )


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 server on loopback (moto), reached through s3fs as a user's bucket would be:
    credentials and endpoint come from the environment / fsspec config, never from code."""
    import socket

    import fsspec.config
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": url,
    }
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    old_conf = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = {"endpoint_url": url}
    import types

    try:
        yield types.SimpleNamespace(url=url, server=server)
    finally:
        server.stop()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if old_conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = old_conf


# -- leaving ------------------------------------------------------------------------------------
_EXIT: dict[str, int] = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Every fixture (Ray heads, runs) has ended: remove what the session made under /tmp
    (pytest_unconfigure leaves with os._exit, so no atexit handler would run)."""
    for path in SESSION_TEMPS:
        shutil.rmtree(path, ignore_errors=True)
    _EXIT["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without interpreter teardown once pytest has reported: Ray's and gRPC's native
    threads, still alive in this process after in-process clusters, crashed the teardown with
    SIGSEGV once after "187 passed" (exit 139 for a green run). The summary and the exit status
    are pytest's own; nothing runs after this hook."""
    if "status" in _EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])
