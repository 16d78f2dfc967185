"""``codemix_search calibrate``: K mixtures x N seeds trained to the end, seed noise and SNR per
objective; seed replicas are real retrainings (different seeds, different results)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, TINY


def calibrate(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "codemix_search", "calibrate", "--space", TINY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_calibrate_writes_the_seed_noise_table(tmp_path):
    # from scratch: the base (~30 s of this test) is the search's business, tested there
    out = calibrate(
        "--mixtures", "2", "--seeds", "2", "--storage", str(tmp_path), "--name", "cal",
        "training.init=scratch",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "cal"
    table = json.loads((run / "calibration.json").read_text())
    assert table["mixtures"] == 2 and table["seeds"] == 2
    for name in ("nl_reasoning", "code"):
        row = table["objectives"][name]
        assert row["mixtures"] == 2 and row["replicas"] == 4
        assert row["seed_noise"] > 0 and row["snr"] is not None and row["mdd"] > 0
    assert "| nl_reasoning |" in (run / "calibration.md").read_text()
    # the fingerprint through which a later run of the same space on this storage finds it
    from codemix_search.config.load import load_space
    from codemix_search.export.signal import fingerprint

    assert table["fingerprint"] == fingerprint(load_space(TINY, ["training.init=scratch"]))
    assert all(row["seed_df"] == 2 for row in table["objectives"].values())
    # the calibrate run's own report takes its seed noise from its replicas
    signal = json.loads((run / "report" / "report.json").read_text())["signal"]
    assert signal["code"]["seed_source"].startswith("this run's replicas")
    assert signal["code"]["seed_noise"] == pytest.approx(table["objectives"]["code"]["seed_noise"])
    rows = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"finished"}  # none stopped
    by_mixture: dict[str, list] = {}
    for r in rows:
        by_mixture.setdefault(r["mixture_id"], []).append(r)
    assert sorted(len(v) for v in by_mixture.values()) == [2, 2]
    for replicas in by_mixture.values():
        a, b = replicas
        assert a["metrics"]["seed"] != b["metrics"]["seed"]  # retrained, not reused
        assert "reused_from" not in a["metrics"] and "reused_from" not in b["metrics"]
        assert a["objectives"] != b["objectives"]
    report = (run / "report" / "report.md").read_text()
    assert "Can the objectives tell mixtures apart?" in report


def test_calibrate_needs_two_mixtures_and_two_seeds(tmp_path):
    for flag in ("--mixtures", "--seeds"):
        out = calibrate(flag, "1", "--storage", str(tmp_path / "store"))
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {flag}")
        assert "Traceback" not in out.stderr and not (tmp_path / "store").exists()
