"""``search.strategy: swarm`` through run.py on a real (tiny) run: stage 1 trains the proxies at
the small size, the fit proposes, stage 2 trains the proposals and the baseline at the space's
size, and swarm.json holds predicted vs measured; ``plan`` prices both stages."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.helpers import TINY, run_cli

pytestmark = pytest.mark.slow


def test_swarm_then_confirm_through_run_py(tmp_path):
    space = yaml.safe_load(open(TINY))
    space["name"] = "sw"
    space["training"]["init"] = "scratch"  # no bases to train at either size: ~40 s saved
    space["search"] = {"strategy": "swarm", "proxies": 5, "proxy_model": "tiny",
                       "proxy_tokens": 10240, "confirm": 2}  # fmt: skip
    space["budget"] = {"samples": 4, "concurrency": 2}
    space["evaluation"]["baseline"] = {"code_fraction": 0.0, "cooldown_code_fraction": 0.0}
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump(space))
    storage = tmp_path / "runs"
    out = run_cli("--space", str(path), "--storage", str(storage), "--name", "s", timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "swarm stage 1: 5 proxies at tiny" in out.stdout
    assert "swarm stage 2: 2 proposals" in out.stdout
    proxies = [
        json.loads(x) for x in (storage / "s-proxies" / "records.jsonl").read_text().splitlines()
    ]
    assert len(proxies) == 5 and all(r["status"] == "finished" for r in proxies)
    assert all(r["metrics"]["tokens"] == 10240 for r in proxies)
    made = json.loads((storage / "s" / "swarm_proposals.json").read_text())
    result = json.loads((storage / "s" / "swarm.json").read_text())
    assert [p["role"] for p in made["proposals"]] == ["optimum", "front"]
    roles = sorted(p["role"] for p in result["points"])
    assert roles == ["baseline", "front", "optimum"]
    for p in result["points"]:
        assert set(p["predicted"]) == set(p["measured"]) == {"nl_reasoning", "code"}
        assert all(isinstance(v, float) for v in p["measured"].values())
    for name, o in result["objectives"].items():
        assert o["points"] == 3 and o["shift"] is not None and o["spearman"] is not None, name
        # the same objective, measured at 20,480 tokens vs predicted from 10,240-token proxies
        shifts = [p["measured"][name] - p["predicted"][name]["mean"] for p in result["points"]]
        assert o["shift"] == pytest.approx(sum(shifts) / 3)
    confirmed = [json.loads(x) for x in (storage / "s" / "records.jsonl").read_text().splitlines()]
    assert all(r["metrics"]["tokens"] == 20480 for r in confirmed)
    assert "predicted at tiny vs measured at tiny" in out.stdout
    plan = subprocess.run(
        [sys.executable, "-m", "codemix_search", "plan", "--space", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "stage        proxies at tiny: 5 trials, 51,200 tokens" in plan.stdout
    assert "stage        confirm at tiny: 3 trials, 61,440 tokens" in plan.stdout
