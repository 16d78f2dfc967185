"""Each benchmark formula against a case with a hand-computed answer, so a wrong formula fails:
every test here was checked by applying the mutation it names (in its docstring) and seeing it
fail."""

import math

import numpy as np
import pytest
from scipy import stats

from benchmarks import paper_directions as pd
from benchmarks import search_efficiency as se
from codemix_search.analysis.transfer import bootstrap_intervals, decision_accuracy
from codemix_search.config.load import load_space
from codemix_search.core.ranking import default_reference, hypervolume
from tests.unit.test_benchmark_maths import GRID_SPACE, synthetic_grid

DIMS = ["code_fraction", "cooldown_code_fraction", "init"]


@pytest.fixture(scope="module")
def space():
    return load_space(GRID_SPACE)


def test_bound_keeps_80_percent_of_the_front(space):
    """Mutation: ``keep = 0``. 30 points, front of 5 (ccf 0, balanced init), keep ceil(4.0) = 4:
    26 points stoppable at their first report (1/4 of their tokens): 26 x 0.75 / 30 = 0.65."""
    b = se.bounds(space, synthetic_grid(space), 0.95)
    assert b["front_points"] == 5
    assert b["max_saving_keeping_80pct_of_front"] == pytest.approx(0.65)
    assert b["first_report_share_of_tokens"] == pytest.approx(0.25)


def test_compute_to_reach_needs_the_target():
    """Mutation: "reached" when hv >= 0."""
    hist = [(10, 0.1), (20, 0.5), (30, 0.96), (40, 1.0)]
    assert se.compute_to_reach(hist, 1.0, 0.95, 100) == pytest.approx(0.30)
    assert se.compute_to_reach(hist[:2], 1.0, 0.95, 100) == math.inf


def test_stopped_trials_pay_their_tokens(space):
    """Mutation: a stopped trial costs 0. Best-first arrivals: ASHA cuts the later points, and
    the tokens spent exceed what the finished points alone cost by what the stopped ones ran."""
    grid = synthetic_grid(space)
    keys = sorted(grid, key=lambda k: grid[k]["curve"][0]["rung_metric"])
    _, found, spent = se.replay(space, DIMS, grid, keys, len(keys), asha=True)
    stopped = [k for k in keys if k not in found]
    assert stopped
    finished = sum(grid[k]["tokens"][-1] for k in found)
    assert spent >= finished + sum(grid[k]["tokens"][0] for k in stopped)
    assert spent < finished + sum(grid[k]["tokens"][-1] for k in stopped)


def test_front_share_counts_found_front_points():
    """Mutation: the Pareto share fixed at 1.0."""
    assert se.front_share({"a", "b", "c", "d"}, ["a", "x", "a"]) == 0.25
    assert se.front_share({"a"}, []) == 0.0


def test_hypervolume_is_of_the_points_found_so_far(space):
    """Mutation: the hypervolume taken over the whole grid at every step."""
    grid = synthetic_grid(space)
    keys = sorted(grid, key=str)
    values = [grid[k]["objectives"] for k in keys]
    ref = default_reference(values, space.modes)
    hist, found, _ = se.replay(space, DIMS, grid, keys, 3, asha=False)
    assert hist[0][1] == pytest.approx(hypervolume([grid[keys[0]]["objectives"]], space.modes, ref))
    assert hist[0][1] < hypervolume(values, space.modes, ref)
    assert hist[0][0] == grid[keys[0]]["tokens"][-1]  # the first trial's tokens, not 0


def test_the_dominance_rule_needs_need_dominators(space):
    """Mutation: the rule ignores ``need`` (stops on one dominator whatever it is). A dominates
    B and C, B dominates C: with need 2 only C after both A and B stops; B never does."""
    names = space.metric_names
    grid = {}
    for level, key in enumerate([(0.25, 0.2, "balanced"), (0.5, 0.2, "balanced"),
                                 (0.75, 0.2, "balanced")], 1):  # fmt: skip
        curve = [{"tokens": 100 * k, **{f"rung/{n}": float(level) for n in names}}
                 for k in (1, 2)]  # fmt: skip
        grid[key] = {
            "objectives": [float(level)] * 4, "curve": curve, "tokens": [100, 200],
            "config": dict(zip(DIMS, key, strict=True)),
        }  # fmt: skip
    one = se.dominance_rule(space, grid, seeds=30, need=1)
    two = se.dominance_rule(space, grid, seeds=30, need=2)
    assert one["median_front_kept"] == two["median_front_kept"] == 1.0  # A is never stopped
    # need 2: at most C is stopped (100 of 600 tokens saved); need 1 stops more in most orders
    assert two["median_tokens_saved"] <= 100 / 600 + 1e-9
    assert one["median_tokens_saved"] > two["median_tokens_saved"]


def test_landscape_noise_is_seed_and_item_noise():
    """Mutation: item noise dropped (or the seed noise) from the landscape's noise."""
    assert se.landscape_noise({"seed_noise": 0.3, "item_noise": 0.4}) == pytest.approx(0.5)
    assert se.landscape_noise({"seed_noise": None, "item_noise": 0.4}) == pytest.approx(0.4)
    assert se.landscape_noise({"checkpoint_noise": 0.3, "item_noise": 0.4}) == pytest.approx(0.5)


def test_bootstrap_resamples():
    """Mutation: the bootstrap draws the same runs every time (no resampling): zero width."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=25)
    y = x + rng.normal(size=25)
    ci = bootstrap_intervals(list(x), list(y))
    rho = stats.spearmanr(x, y).statistic
    lo, hi = ci["spearman"]
    assert lo < rho < hi and hi - lo > 0.2


def test_slope_interval_uses_n_minus_p_degrees_of_freedom():
    """Mutation: dof = n - 1. One cooldown and one init: y = a + b x, dof n - 2."""
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    y = np.array([1.0, 1.3, 1.4, 1.8, 2.0])
    rows = [{"code_fraction": a, "cooldown_code_fraction": 0.0, "init": "text", "o": b}
            for a, b in zip(x, y, strict=True)]  # fmt: skip
    sxx = ((x - x.mean()) ** 2).sum()
    b = ((x - x.mean()) * (y - y.mean())).sum() / sxx
    resid = y - (y.mean() + b * (x - x.mean()))
    se_b = math.sqrt((resid @ resid) / 3 / sxx)
    half = stats.t.ppf(0.975, 3) * se_b
    got = pd.slope(rows, "o")
    assert got["estimate"] == pytest.approx(b) and got["se"] == pytest.approx(se_b)
    assert got["high"] - got["estimate"] == pytest.approx(half)


def test_decision_accuracy_skips_pairs_tied_at_either_scale():
    """Mutation: ties not skipped (a tie then counts as agreement or disagreement)."""
    assert decision_accuracy([1, 1, 2], [6, 5, 7]) == 1.0  # the tie would count as a miss
    assert decision_accuracy([1, 2, 3], [5, 5, 4]) == 0.0  # ... or here as a hit
    assert math.isnan(decision_accuracy([1, 1], [2, 3]))


def test_holm_by_hand_and_the_init_effect_needs_two_bases():
    # p (0.01, 0.04, 0.03): sorted 0.01 x 3, 0.03 x 2, 0.04 x 1 -> 0.03, 0.06, 0.06 (monotone)
    assert pd.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    ci = {"estimate": -0.1, "low": -0.2, "high": -0.05, "p_holm": 0.01}
    assert pd.verdict(ci, -1) == "agrees with the paper"
    assert pd.verdict({**ci, "p_holm": 0.2}, -1) == "not resolved after Holm's correction"
    assert pd.verdict({**ci, "bases": 1}, -1).startswith("not resolved: one base per init")
    rows = [
        {"init": "text"},
        {"init": "balanced", "base": "b0"},
        {"init": "balanced", "base": "b1"},
    ]
    assert pd.bases_per_init(rows) == 1


def test_branched_spend_pays_a_prefix_once():
    """Mutations: ``cost = max(0, end - self.pre)`` -> ``cost = end`` (no sharing), and the
    prefix never added (``cost += self.pre`` -> ``cost += 0``). Three points of one prefix
    (100 tokens, 80 pretraining), one of another: 100 + 20 + 20 + 100 = 240; a point stopped
    at its first report (25 tokens, inside the pretraining) still trains its prefix whole."""
    from benchmarks import _fair_search as fair

    grid = {
        k: {"tokens": [25, 50, 80, 100], "prefix": p}
        for k, p in (("a", "x"), ("b", "x"), ("c", "x"), ("d", "y"))
    }
    assert fair.grid_tokens(grid, 80) == 240
    assert fair.grid_tokens(grid, 80, branched=False) == 400
    spend = fair.Spend(grid, 80)
    assert spend.point("a", stop_at=1) == 80  # the prefix, nothing of a cooldown
    assert spend.point("b") == 20 and spend.point("d", stop_at=4) == 100
    assert spend.tokens == 200
