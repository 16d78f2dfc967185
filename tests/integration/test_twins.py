"""A mixture already trained in a run is not trained again: a point proposed twice (samplers
repeat points on categorical grids; here 3 trials over 2 choices) reuses the first result."""

import json

import pytest
import yaml

from tests.helpers import TINY, run_cli

pytestmark = pytest.mark.slow


def test_a_repeated_mixture_reuses_its_twin_and_costs_no_tokens(tmp_path):
    space = yaml.safe_load(open(TINY))
    space["parameters"] = {
        "code_fraction": {"type": "categorical", "choices": [0.25, 0.75]},
        "synthetic_share": 0.2,
        "commit_share": 0.1,
        "cooldown_code_fraction": 0.2,
    }
    space["sampler"] = "random"
    space["budget"] = {"samples": 3, "concurrency": 1}
    space["early_stopping"] = {"scheduler": "none"}
    space["training"]["init"] = "scratch"  # no base to train: ~30 s the twins do not need
    path = tmp_path / "twins.yaml"
    path.write_text(yaml.safe_dump(space))
    out = run_cli(
        "--space", str(path), "--storage", str(tmp_path / "runs"), "--name", "t", timeout=900
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = tmp_path / "runs" / "t"
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["finished"] * 3
    trained = {r["mixture_id"]: r for r in records if not r["metrics"].get("reused_from")}
    reused = [r for r in records if r["metrics"].get("reused_from")]
    assert len(trained) + len(reused) == 3 and len(reused) >= 1  # 3 trials, 2 mixtures
    for r in reused:
        twin = trained[r["mixture_id"]]
        assert r["metrics"]["reused_from"] == twin["trial_id"]
        assert r["objectives"] == twin["objectives"]
    ledger = json.loads((run / "ledger.json").read_text())
    assert all(ledger["trials"][r["trial_id"]]["tokens"] == 0 for r in reused)
    assert ledger["totals"]["tokens"] == len(trained) * space["training"]["tokens"]
    recipes = {p.stem for p in (run / "recipes").glob("*.yaml")}
    assert recipes <= {r["trial_id"] for r in trained.values()}  # one recipe per mixture
