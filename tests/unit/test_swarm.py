"""Swarm tables, regressors, fit scores and proposals: pure maths on small hand-made tables."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from codemix_search.analysis import fit as fitting
from codemix_search.analysis import propose as prop
from codemix_search.analysis import regressors
from codemix_search.analysis.swarm import Block, Swarm, check, concat, decimals
from codemix_search.analysis.swarm_readers import read_prefixed, read_regmix_pair
from codemix_search.core.mixture import dirichlet_phase
from codemix_search.errors import ConfigError


def write(path, text):
    path.write_text(text)
    return str(path)


def test_regmix_pair_joins_on_index_and_names_columns(tmp_path):
    mix = write(tmp_path / "m.csv", "index,train_the_pile_a,train_the_pile_b\n2,0.25,0.75\n1,1,0\n")
    met = write(tmp_path / "l.csv", "index,metric/the_pile_a_val_loss\n1,3.0\n2,2.5\n")
    s = read_regmix_pair(mix, met, "1m")
    assert s.columns == ("a", "b")
    assert s.ids == ("m:2", "m:1")
    assert s.metrics["a_val_loss"].tolist() == [2.5, 3.0]  # joined by index, not by row
    assert s.sizes == ("1m", "1m")


def test_rounded_weights_pass_and_are_renormalised_but_real_gaps_fail(tmp_path):
    # 4 columns written to 2 decimals may sum to 1 +- 0.02; 0.99 passes and becomes 1
    ok = write(tmp_path / "ok.csv", "w:a,w:b,w:c,w:d,m:x\n0.33,0.33,0.33,0,1\n")
    s = read_prefixed(ok, "w:", "m:")
    assert s.weights.sum() == pytest.approx(1.0)
    bad = write(tmp_path / "bad.csv", "w:a,w:b,m:x\n0.5,0.4,1\n")  # 1 decimal: tol 0.1 ...
    s = read_prefixed(bad, "w:", "m:")  # ... 0.9 is within it
    full = write(tmp_path / "full.csv", "w:a,w:b,m:x\n0.5012,0.4,1\n")
    with pytest.raises(ConfigError, match=r"full.csv: mixture: .*sum to 0.9012, not 1"):
        read_prefixed(full, "w:", "m:")
    assert decimals(np.array([[0.125, 0.5]])) == 3


@pytest.mark.parametrize(
    "row, message",
    [
        ("nan,1", "not a finite number"),
        ("-0.5,1.5", "not a finite number >= 0"),
        ("x,0.5", "not numbers"),
    ],
)
def test_bad_weights_name_the_file_and_column(tmp_path, row, message):
    path = write(tmp_path / "t.csv", f"w:a,w:b,m:x\n{row},1\n")
    with pytest.raises(ConfigError, match=message) as e:
        read_prefixed(path, "w:", "m:")
    assert re.search(r"t\.csv: (w:)?a: ", str(e.value)) and "\n" not in str(e.value)


def test_prefixes_and_size_column_are_checked(tmp_path):
    path = write(tmp_path / "t.csv", "w:a,w:b,m:x,size\n0.5,0.5,1,1m\n1,0,2,60m\n")
    s = read_prefixed(path, "w:", "m:", "size")
    assert s.size_labels == ["1m", "60m"]
    assert s.size_index("60M").tolist() == [1]  # sizes match without case
    with pytest.raises(ConfigError, match="holds sizes"):
        s.size_index(None)
    with pytest.raises(ConfigError, match="size '1b' is not in"):
        s.size_index("1b")
    with pytest.raises(ConfigError, match="no column starts with 'q:'"):
        read_prefixed(path, "q:", "m:")
    with pytest.raises(ConfigError, match="no column 'model'"):
        read_prefixed(path, "w:", "m:", "model")
    with pytest.raises(ConfigError, match="no metric 'y'"):
        s.metric("y")


def swarm(W, y, sizes=None):
    W = np.asarray(W, float)
    return Swarm(
        columns=tuple(f"c{j}" for j in range(W.shape[1])),
        blocks=(Block("mixture", tuple(range(W.shape[1]))),),
        weights=W,
        metrics={"y": np.asarray(y, float)},
        sizes=tuple(sizes or [""] * len(W)),
        ids=tuple(f"r{i}" for i in range(len(W))),
        origin="t",
    )


def test_concat_unions_columns_and_metrics():
    a = swarm([[1, 0]], [1.0])
    b = Swarm(
        ("c1", "c9"),
        (Block("mixture", (0, 1)),),
        np.array([[0.5, 0.5]]),
        {"z": np.array([2.0])},
        ("",),
        ("s0",),
        "u",
    )
    c = concat([a, b])
    assert c.columns == ("c0", "c1", "c9")
    assert c.weights.tolist() == [[1, 0, 0], [0, 0.5, 0.5]]
    assert math.isnan(c.metrics["y"][1]) and math.isnan(c.metrics["z"][0])
    assert c.blocks == (Block("mixture", (0, 1, 2)),)
    check(c, "t")  # each row still sums to 1 over the merged block


def test_regret_at_1_by_hand():
    actual = [3.0, 1.0, 2.0, 5.0]
    assert fitting.regret_at_1([0.1, 0.9, 0.5, 0.7], actual) == 2.0  # picks run 0 (3.0) vs 1.0
    assert fitting.regret_at_1([0.1, 0.9, 0.5, 0.7], actual, "max") == 4.0  # picks run 1 vs 5
    assert fitting.regret_at_1([2, 1, 3, 4], actual) == 0.0


def test_scores_and_bootstrap_interval_by_hand():
    pred, actual = [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 6, 5]
    s = fitting.Scores.of(pred, actual, "min")
    assert s.spearman == pytest.approx(1 - 6 * 2 / (6 * 35))  # one swapped pair: d^2 = 2
    assert s.regret_at_1 == 0.0 and s.regret_share_of_range == 0.0
    lo, hi = s.spearman_ci
    assert lo < s.spearman <= hi <= 1.0
    assert lo > 0.3  # a resampled run repeats: the interval is not [-1, 1]
    # the interval moves with the data: reversed predictions give a negative one
    assert fitting.Scores.of(pred[::-1], actual, "min").spearman_ci[1] < 0
    assert math.isnan(regressors.spearman([1, 1, 1], [1, 2, 3]))  # constant: no ranking


def dirichlet(n, d, seed=0):
    return np.random.RandomState(seed).dirichlet(np.ones(d), n)


def loss(W):
    return 2 + 0.4 * np.exp(-3 * W[:, 0]) - 0.2 * np.log(W[:, 1] + 1e-3) * 0.1


@pytest.mark.parametrize("name", ["lightgbm", "gp", "loglinear"])
def test_each_regressor_ranks_a_known_surface(name):
    W, Wt = dirichlet(60, 4), dirichlet(40, 4, 1)
    model = regressors.fit(name, W, loss(W), simplex=range(4))
    mean, sd = model.predict(Wt)
    assert regressors.spearman(mean, loss(Wt)) > 0.8
    assert sd.shape == mean.shape and np.all(sd >= 0)


def test_out_of_fold_predicts_every_run_from_other_folds():
    W = dirichlet(20, 3)
    y = loss(W)
    pred = regressors.out_of_fold("loglinear", W, y, range(3), k=5)
    assert pred.shape == (20,) and regressors.spearman(pred, y) > 0.7
    folds = regressors.folds(20, 0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(20))


def test_selection_draws_without_replacement_and_starts_alike():
    W = dirichlet(40, 3)
    y = loss(W)
    picks = {m: fitting.select(W, y, 14, m, range(3), seed=3) for m in ("random", "gp-ei", "gp-sd")}
    for m, chosen in picks.items():
        assert len(set(chosen)) == 14, m
    assert picks["gp-ei"][:8] == picks["random"][:8] == picks["gp-sd"][:8]
    # expected improvement goes after the low values: its picks beat the random draw's
    assert y[picks["gp-ei"]].min() <= y[picks["random"]].min()


def test_fit_swarm_needs_five_runs_and_a_sane_n():
    s = swarm(dirichlet(4, 3), [1, 2, 3, 4])
    with pytest.raises(ConfigError, match="4 run.s. measured 'y'.*at least 5"):
        fitting.fit_swarm(s, "y")
    s = swarm(dirichlet(12, 3), loss(dirichlet(12, 3)))
    with pytest.raises(ConfigError, match="--n: 40: choose between 5 and the 12"):
        fitting.fit_swarm(s, "y", n=40)
    report, _ = fitting.fit_swarm(s, "y", regressor="loglinear", n=8)
    assert report.n_train == 8 and len(set(report.train_rows)) == 8


def test_limits_repair_and_infeasible_bounds():
    s = swarm(dirichlet(10, 3), np.arange(10))
    limits = prop.Limits.build(s, {"c0": 0.2}, {"c1": 0.1})
    W = limits.repair(dirichlet(50, 3, 2), s.blocks)
    assert limits.ok(W).all() and np.allclose(W.sum(1), 1)
    with pytest.raises(ConfigError, match="no mixture satisfies these bounds"):
        prop.Limits.build(s, {"c0": 0.7, "c1": 0.5}, {})
    # repetition: 4 epochs of 10 tokens at a 100-token budget caps a weight at 0.4
    capped = prop.Limits.build(s, {}, {}, {"c0": 10, "c1": 1e9, "c2": 1e9}, 100, 4)
    assert capped.high.tolist() == [0.4, 1.0, 1.0]
    with pytest.raises(ConfigError, match="no available tokens for 'c2'"):
        prop.Limits.build(s, {}, {}, {"c0": 10, "c1": 1}, 100, 4)


def test_search_finds_the_interior_optimum_and_respects_bounds():
    W = dirichlet(80, 3)
    y = (W[:, 0] - 0.6) ** 2 + (W[:, 1] - 0.3) ** 2  # best at (0.6, 0.3, 0.1)
    s = swarm(W, y)
    model = regressors.fit("gp", W, y, simplex=range(3))
    obj = prop.Objective("y", "min", model, float(np.ptp(y)), float(y.min()))
    limits = prop.Limits.build(s, {}, {})
    best = prop.search(s, [obj], {"y": 1.0}, limits, seed=0)[0]
    assert np.abs(best.weights - [0.6, 0.3, 0.1]).sum() < 0.15
    capped = prop.Limits.build(s, {}, {"c0": 0.4})
    best = prop.search(s, [obj], {"y": 1.0}, capped, seed=0)[0]
    assert best.weights[0] <= 0.4 + 1e-9 and best.weights[0] > 0.3
    bound = prop.Bound("y", "<=", -1.0)  # nothing is predicted below -1
    with pytest.raises(ConfigError, match="no candidate mixture satisfies"):
        prop.search(s, [obj], {"y": 1.0}, limits, [bound])
    two = prop.search(s, [obj], {"y": 1.0}, limits, k=2)
    assert np.abs(two[0].weights - two[1].weights).sum() >= prop.DISTINCT_L1


def test_dirichlet_point_gives_back_the_weights():
    for m in (0.0, 0.02):
        ws = {"a": 0.5, "b": 0.3, "c": 0.2}
        point = prop.dirichlet_point({"pretrain": ws}, m)
        got = dirichlet_phase({k.split("_", 2)[2]: v for k, v in point.items()}, m)
        assert got == pytest.approx(ws, abs=1e-6)


def test_rounded_weights_sum_to_exactly_one():
    from codemix_search.commands.propose import rounded

    s = swarm([[1 / 3, 1 / 3, 1 / 3]], [0])
    r = rounded(s, np.array([1 / 3, 1 / 3, 1 / 3]), places=2)
    assert sorted(r.tolist()) == [0.33, 0.33, 0.34]
    assert round(sum(int(round(x * 100)) for x in r)) == 100


def test_bounds_and_pairs_parse_or_say_why():
    s = swarm(dirichlet(6, 2), np.arange(6.0))
    assert prop.parse_bound("y<=2.5", s, None) == prop.Bound("y", "<=", 2.5)
    assert prop.parse_bound("y>=baseline", s, "r3").value == 3.0
    for bad, msg in (
        ("y<2", "write OBJECTIVE"),
        ("y<=nan", "finite"),
        ("y<=baseline", "--baseline"),
    ):
        with pytest.raises(ConfigError, match=msg):
            prop.parse_bound(bad, s, None)
    assert prop.parse_pairs(["a=2,b=1"], "--weights") == {"a": 2.0, "b": 1.0}
    with pytest.raises(ConfigError, match="NAME=NUMBER"):
        prop.parse_pairs(["a=inf"], "--weights")
    with pytest.raises(ConfigError, match="not a column"):
        prop.parse_pairs(["zz=0.1"], "--min", s.columns)
