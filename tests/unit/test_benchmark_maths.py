"""The benchmarks' statistics and replay on synthetic landscapes with known answers."""

import itertools

import numpy as np
import pytest

from benchmarks import paper_directions as pd
from benchmarks import search_efficiency as se
from codemix_search.config.load import load_space
from tests.helpers import REPO

GRID_SPACE = f"{REPO}/search_spaces/bench_grid.yaml"
CF, CCF, INIT = [0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.2, 0.4], ["text", "balanced"]


def synthetic_rows(seed=0, noise=0.002):
    rng = np.random.default_rng(seed)
    rows = []
    for cf, ccf, init in itertools.product(CF, CCF, INIT):
        rows.append({
            "code_fraction": cf, "cooldown_code_fraction": ccf, "init": init,
            # world knowledge worse with code (+0.3 BPB per unit), NL better with 20% cooldown
            # code (-0.05), code better with code (-0.5), balanced init helps NL (-0.02).
            "world_knowledge": 1.0 + 0.3 * cf + rng.normal(0, noise),
            "nl_reasoning": 1.2 - 0.05 * (ccf == 0.2) - 0.02 * (init == "balanced")
            + rng.normal(0, noise),
            "code": 2.0 - 0.5 * cf + rng.normal(0, noise),
        })  # fmt: skip
    return rows


def test_directions_recover_known_effects_with_intervals_that_hold_them():
    d = pd.directions(synthetic_rows(), ["world_knowledge", "nl_reasoning", "code"])
    wk, nl, code = d["world_knowledge"], d["nl_reasoning"], d["code"]
    assert wk["code_fraction_slope"]["low"] < 0.3 < wk["code_fraction_slope"]["high"]
    # 0.3 x (mean of 0.75, 1.0 minus mean of 0.0, 0.25) = 0.3 x 0.75
    assert wk["lots_of_code"]["estimate"] == pytest.approx(0.225, abs=0.005)
    assert wk["lots_of_code"]["n"] == 6 and nl["cooldown_20pct"]["n"] == 10
    assert nl["cooldown_20pct"]["high"] < 0 and nl["balanced_init"]["high"] < 0
    assert pd.verdict(nl["cooldown_20pct"], -1) == "agrees with the paper"
    assert pd.verdict(code["code_fraction_slope"], 1) == "DISAGREES with the paper"
    assert pd.verdict(code["cooldown_20pct"], -1) == "not resolved (interval holds 0)"


def synthetic_grid(space):
    """Points whose rung metric and objectives agree: low code fraction is better on the first
    objective, high on the second (a real trade-off), so the front is the whole cf range."""
    grid = {}
    for cf, ccf, init in itertools.product(CF, CCF, INIT):
        bad = 0.1 * ccf + 0.05 * (init == "text")  # dominated unless ccf 0 and balanced init
        objectives = [1 + cf + bad, 2 - cf + bad, 3 + bad, 4 + bad]
        curve = [
            {"tokens": 25600 * k, "rung_metric": 10 / k + bad, "val_loss": 5.0 / k}
            for k in (1, 2, 3, 4)
        ]
        config = {"code_fraction": cf, "cooldown_code_fraction": ccf, "init": init}
        grid[(cf, ccf, init)] = {
            "objectives": objectives, "curve": curve, "tokens": [c["tokens"] for c in curve],
            "config": {**config, "synthetic_share": 0.2, "commit_share": 0.1},
        }  # fmt: skip
    return grid


def test_replaying_the_whole_grid_finds_its_hypervolume_and_asha_saves_tokens():
    space = load_space(GRID_SPACE)
    dims = ["code_fraction", "cooldown_code_fraction", "init"]
    grid = synthetic_grid(space)
    keys = sorted(grid, key=str)
    full = sum(grid[k]["tokens"][-1] for k in keys)
    hist, found, spent = se.replay(space, dims, grid, keys, len(keys), asha=False)
    assert spent == full and len(found) == len(keys)
    order = sorted(keys, key=lambda k: -grid[k]["curve"][0]["rung_metric"])  # worst first
    _, kept, spent_asha = se.replay(space, dims, grid, order[::-1], len(keys), asha=True)
    # Best-first arrivals: every later, worse point is cut at its first rung by Tune's ASHA.
    assert spent_asha < 0.5 * full
    best = {k for k in keys if k[1] == 0.0 and k[2] == "balanced"}
    assert best <= set(kept)


def test_decision_accuracy_counts_pairs_ordered_alike_and_skips_ties():
    from codemix_search.analysis.transfer import bootstrap_intervals, decision_accuracy

    assert decision_accuracy([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert decision_accuracy([1, 2, 3, 4], [40, 30, 20, 10]) == 0.0
    # one swapped neighbour pair of 6 pairs
    assert decision_accuracy([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(5 / 6)
    assert decision_accuracy([1, 1, 2], [6, 5, 7]) == 1.0  # the tied pair is left out (else 2/3)
    rng = np.random.default_rng(0)
    x = list(rng.normal(size=30))
    ci = bootstrap_intervals(x, [v + 0.1 * rng.normal() for v in x])
    assert 0.8 < ci["spearman"][0] <= ci["spearman"][1] <= 1.0
    assert ci["decision_accuracy"][0] > 0.75
