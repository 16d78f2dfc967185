"""Scale transfer (pure maths, milliseconds) and its command on two written runs."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest
import yaml

from codemix_search.analysis.transfer import compare, front_survival, rank_correlations, space_for
from codemix_search.config.load import load_space
from codemix_search.core.records import TrialRecord
from tests.helpers import REPO, TINY


def test_rank_correlations_known_values():
    same = rank_correlations([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert same["spearman"] == pytest.approx(1) and same["kendall"] == pytest.approx(1)
    rev = rank_correlations([1, 2, 3, 4], [4, 3, 2, 1])
    assert rev["spearman"] == pytest.approx(-1) and rev["kendall"] == pytest.approx(-1)
    # one swapped pair of 4: Spearman 1 - 6*2/(4*15) = 0.8; Kendall (5-1)/6
    one = rank_correlations([1, 2, 3, 4], [1, 2, 4, 3])
    assert one["spearman"] == pytest.approx(0.8) and one["kendall"] == pytest.approx(4 / 6)
    assert math.isnan(rank_correlations([1, 2], [2, 1])["spearman"])  # too few to rank


def test_front_survival():
    modes = ["max", "max"]
    small = [[1, 0], [0, 1], [0.5, 0.5], [0.1, 0.1]]
    large = [[1, 0], [0, 0.2], [0.6, 0.6], [0.1, 0.1]]  # mixture 1 falls off at scale
    out = front_survival(small, large, modes)
    assert out["small_front"] == [0, 1, 2] and out["large_front"] == [0, 2]
    assert out["survived"] == pytest.approx(2 / 3) and out["jaccard"] == pytest.approx(2 / 3)


def rec(mix, init, status="finished", **obj):
    return TrialRecord(f"{mix}-{init}", status, {"init": init}, mixture_id=mix, objectives=obj)


def test_compare_matches_mixture_and_init_not_trial_ids():
    small = [
        rec("a", "text", x=1),
        rec("b", "text", x=2),
        rec("c", "text", x=3),
        rec("d", "code", x=4),
    ]
    large = [
        rec("c", "text", x=30),
        rec("a", "text", x=10),
        rec("b", "text", x=20),
        rec("d", "text", x=0),
    ]
    large.append(rec("e", "text", status="pruned"))
    out = compare(small, large, {"x": "max"})
    assert out["matched"] == 3  # d differs in init, e was pruned
    assert out["objectives"]["x"]["spearman"] == pytest.approx(1)
    assert out["front"]["small_front"] == ["c"] == out["front"]["large_front"]


def _write_run(folder, space_dict, records):
    folder.mkdir(parents=True)
    (folder / "space.yaml").write_text(yaml.safe_dump(space_dict))
    rows = [dataclasses.replace(r, trial_id=f"t{i}").to_dict() for i, r in enumerate(records)]
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_transfer_command_and_space_for(tmp_path):
    space = load_space(TINY).to_dict()
    cfgs = [{"code_fraction": c, "synthetic_share": 0.1} for c in (0.1, 0.4, 0.7)]
    small = [
        dataclasses.replace(
            rec(f"m{i}", "balanced", nl_reasoning=0.1 * i, code=0.3 - 0.1 * i), config=c
        )
        for i, c in enumerate(cfgs)
    ]
    large = [
        dataclasses.replace(
            rec(f"m{i}", "balanced", nl_reasoning=0.2 * i, code=0.5 - 0.1 * i), config=c
        )
        for i, c in enumerate(cfgs)
    ]
    _write_run(tmp_path / "small", space, small)
    _write_run(tmp_path / "large", space, large)
    cmd = [sys.executable, "-m", "codemix_search", "transfer"]
    out = subprocess.run(
        [*cmd, str(tmp_path / "small"), str(tmp_path / "large")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["matched"] == 3 and result["objectives"]["nl_reasoning"][
        "spearman"
    ] == pytest.approx(1)
    assert "spearman +1.000" in out.stdout
    out = subprocess.run(
        [*cmd, str(tmp_path / "small"), "--space-for", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    replay = yaml.safe_load(out.stdout)
    assert replay["training"]["model"] == "demo" and replay["points_to_evaluate"] == cfgs
    assert replay["budget"]["samples"] == 3 and replay["early_stopping"]["scheduler"] == "none"
    (tmp_path / "large.yaml").write_text(out.stdout)
    loaded = load_space(str(tmp_path / "large.yaml"))  # a valid space as printed
    assert [p["code_fraction"] for p in loaded.initial_points] == [0.1, 0.4, 0.7]
    bad = subprocess.run(
        [*cmd, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_space_for_refuses_unknown_models():
    from codemix_search.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown size"):
        space_for([rec("a", "x")], {}, "gpt-9")
