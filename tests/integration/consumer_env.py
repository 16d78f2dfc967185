"""What the trainer-export tests share: a consumer venv per trainer library (built once,
cached under CODEMIX_CACHE), a run folder with recipes on the tiny demo data, and the check of
the shares a consumer read against the recipe's weights. Fixtures in conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from codemix_search.config.load import load_space
from codemix_search.data.dataset import cache_root
from codemix_search.export.recipes import export_run
from codemix_search.storage.folder import Folder, is_complete_dir
from codemix_search.storage.layout import RunLayout
from tests.helpers import REPO, TINY
from tests.integration.test_export import make_records

CONSUMERS = ["megatron-core==0.16.1", "ai2-olmo-core==3.0.0"]
# Megatron's tokenizer imports transformers; ours (5.25+) needs huggingface_hub >= 2.4, which
# the consumers' pin shadows. A transformers that accepts their hub (5.24 takes >= 1.31), in the
# consumer venv before ours: PyPI's 5.25 turned this test red without a change of ours.
CONSUMER_TRANSFORMERS = "transformers>=5,<5.25"
STREAMING = "mosaicml-streaming==0.13.0"
# What Streaming's text path imports beyond ours (its full pin list drags torchvision in).
STREAMING_DEPS = ["xxhash", "zstd", "python-snappy", "brotli", "catalogue"]
HERE = os.path.dirname(os.path.abspath(__file__))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def consumer_venv(name: str, *installs: list[str], see_checkout: bool = True) -> str:
    """A venv (built once, cached under CODEMIX_CACHE) holding ``installs`` and seeing our
    venv's packages, and this checkout, after its own; returns its python."""
    venv = os.path.join(cache_root(), "consumer-venv-" + name)
    python = os.path.join(venv, "bin", "python")
    if is_complete_dir(venv):
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True, timeout=300)
    site = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = [p for p in sys.path if p.endswith("site-packages")][0]
    with open(os.path.join(site, "zz_codemix_main.pth"), "w") as f:
        f.write(f"{ours}\n" + (f"{REPO}\n" if see_checkout else ""))
    for args in installs:
        pip = run_in(python, ["-m", "pip", "install", "-q", *args], timeout=900)
        assert pip.returncode == 0, pip.stderr[-2000:]
    with open(os.path.join(venv, "_SUCCESS"), "w") as f:
        f.write("{}")
    return python


def run_in(python: str, args: list[str], timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, *args], capture_output=True, text=True, timeout=timeout, env=ENV, **kw
    )


def consumer_python_path() -> str:
    key = "-".join([*CONSUMERS, STREAMING, "transformers-lt5.25"]).replace("=", "")
    return consumer_venv(
        key, [*CONSUMERS, CONSUMER_TRANSFORMERS], ["--no-deps", STREAMING], STREAMING_DEPS
    )


def run_with_recipes(tiny_data, where: str) -> Folder:
    """A run folder with recipes, on the tiny demo data (records as the search writes them)."""
    space = load_space(TINY)
    folder = Folder(where)
    info = {"uri": tiny_data.uri, "tokenizer_sha256": "", "key": "", "paths": {}}
    folder.write_yaml(RunLayout.SPACE, space.to_dict())
    folder.write_json(RunLayout.RUN, {"name": "r", "layout": 2, "data": info})
    export_run(make_records(space, folder), space, folder, "r", info)
    return folder


def export(run: Folder, fmt: str, *extra: str, python: str = sys.executable) -> Folder:
    out = subprocess.run(
        [python, "-m", "codemix_search.cli", "export", run.uri, "--format", fmt, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{fmt}: 3 recipe(s)" in out.stdout
    folder = RunLayout(run).exports(fmt)
    assert folder.is_complete()
    return folder


def consume(python: str, script: str, *args: str) -> dict:
    out = run_in(python, [os.path.join(HERE, "consumers", script), *args], timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_shares(name: str, exported: dict, read: dict, count: str) -> float:
    """Each phase read with exactly the recipe's sources, each within one sample (the
    trainers deal whole samples) of its weight; returns the largest deviation."""
    worst = 0.0
    for phase, spec in exported["phases"].items():
        got = read[phase]
        assert set(got["shares"]) == set(spec["weights"])
        for source, w in spec["weights"].items():
            err = abs(got["shares"][source] - w)
            assert err <= 1 / got[count] + 1e-9, (name, phase, source, err)
            worst = max(worst, err)
    return worst
