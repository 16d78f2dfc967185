"""benchmarks/gpu_check.py on this machine's CPU: the same loop, compile on and off, that a GPU
machine measures (issue 18's figures are taken there; here its CPU path must run and say what it
measured). torch.compile shares its Inductor cache through the node's codemix cache, so a second
trial of the same shape compiles from it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow


def test_gpu_check_measures_both_settings_on_the_cpu_and_records_no_cpu_row(tiny_data, tmp_path):
    cache = tmp_path / "cache"
    out, rows = _gpu_check(tiny_data.uri, cache, "both", "--record")
    assert [r["compile"] for r in rows] == ["false", "true"]
    for r in rows:
        assert r["device"] == "cpu" and r["reported_device"] == "cpu"
        assert r["tokens"] == 12 * 4 * 64 and r["tokens_per_s"] > 0 and r["mfu"] is None
        assert math.isfinite(r["last_val_loss"]) and 0 < r["fixed_share_of_chinchilla_trial"] < 1
    assert "| tiny | 0.2M | true |" in out.stdout  # the markdown table
    # Inductor's cache is the node's, under the codemix cache: trials of a shape share it.
    assert any((cache / "inductor").rglob("*.py")), sorted(os.listdir(cache))
    # A CPU row from the loop alone (no Train start, a guessed evaluation) is not recorded:
    # the plan's CPU rows come from whole runs.
    assert "not recorded: no GPU plan row for 'cpu'" in out.stdout
    assert not (cache / "throughput.json").exists()
    # The next process (another trial on the node) compiles the same shape from that cache:
    # warm-up 29 s cold, 4.5 s from the cache on 2 cores (2.8 s without compile).
    _, again = _gpu_check(tiny_data.uri, cache, "true")
    assert again[0]["warmup_s"] < rows[1]["warmup_s"] / 2, (again, rows)


def _gpu_check(data: str, cache, compile_: str, *more: str):
    env = {**os.environ, "CODEMIX_CACHE": str(cache)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    args = ["--data", data, "--sizes", "tiny", "--steps", "12", "--seq-len", "64", "--batch", "4",
            "--compile", compile_, *more]  # fmt: skip
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "gpu_check.py"), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out, [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
