"""The fault matrix beyond `run`: `export --format` and `data build` killed (SIGKILL) while they
write, then run again: nothing stale is read as complete, nothing is lost, and no hidden
temporary folder is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from codemix_search.storage.folder import Folder
from tests.helpers import REPO
from tests.integration.consumer_env import run_with_recipes

NEOX = os.path.join(REPO, "benchmarks", "data", "tokenizers", "gpt-neox-20b")


def start(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "codemix_search", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(proc: subprocess.Popen, folder: str, prefix: str, timeout: float = 120) -> str:
    """SIGKILL ``proc`` as soon as its temporary folder (``<prefix>...-<pid>-...``, as
    publish_dir names it) appears in ``folder``; returns that folder's name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.isdir(folder):
            found = [n for n in os.listdir(folder) if n.startswith(prefix) and f"-{proc.pid}-" in n]
            if found:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return found[0]
        if proc.poll() is not None:
            pytest.fail(f"ended before it could be killed mid-write: {proc.stderr.read()[-500:]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("its temporary folder never appeared")


def test_a_killed_trainer_export_leaves_nothing_stale_and_a_rerun_completes(tiny_data, tmp_path):
    run = run_with_recipes(tiny_data, str(tmp_path / "run"))
    exports = os.path.join(run.uri, "exports")
    args = ["export", run.uri, "--format", "olmo_core", "--tokenizer", NEOX]
    temp = kill_when(start(args), exports, ".olmo_core-")
    assert os.path.isdir(os.path.join(exports, temp))  # what the kill left
    assert not Folder(os.path.join(exports, "olmo_core")).is_complete()  # never read as done
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", *args],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(os.listdir(exports)) == ["olmo_core"]  # the orphan is gone
    done = Folder(os.path.join(exports, "olmo_core"))
    assert done.is_complete() and len([n for n in done.listdir() if n.endswith(".json")]) == 3


def test_a_killed_data_build_leaves_nothing_stale_and_a_rerun_completes(tmp_path):
    corpus = tmp_path / "code.jsonl"
    with open(corpus, "w") as f:
        for i in range(6000):
            body = "".join(f"    x{j} = {i} * {j} + {j % 7}\n" for j in range(12))
            f.write(json.dumps({"text": f"def f{i}():\n{body}    return x0\n"}) + "\n")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"sources:\n  - {{name: code, kind: code, uri: {corpus}}}\n"
        "tokenizer: {vocab_size: 512}\nvalidation_share: 0.1\n"
    )
    cache = tmp_path / "cache"
    env = {"CODEMIX_CACHE": str(cache)}
    args = ["data", "build", "--sources", str(sources), "--storage", str(tmp_path / "st"),
            "--engine", "local"]  # fmt: skip
    proc = start(args, env)
    temp = kill_when(proc, str(cache / "data"), ".data-")
    assert os.path.isdir(cache / "data" / temp)  # what the kill left
    built = tmp_path / "st" / "_data"
    assert not built.exists() or not any(Folder(str(p)).is_complete() for p in built.iterdir())
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", *args],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    dataset = out.stdout.strip().splitlines()[-1].strip()
    assert not [n for n in os.listdir(cache / "data") if n.startswith(".")]  # orphan removed
    check = subprocess.run(
        [sys.executable, "-m", "codemix_search", "data", "check", "--dataset", dataset],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
