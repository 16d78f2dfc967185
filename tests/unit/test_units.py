"""Recipe weights in other units and a target budget's epochs (export/units.py), in ms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codemix_search.export.units import (
    UnitsError,
    budget,
    bytes_per_token,
    convert,
    over_cap,
    parse_count,
    rebalance,
    tokens_in,
)


def test_bytes_per_token_is_the_ratio_of_sums_with_a_delta_method_se():
    rng = np.random.default_rng(0)
    tokens = rng.integers(50, 500, size=400)
    nbytes = np.round(tokens * rng.normal(3.0, 0.4, size=400)).astype(int)
    est = bytes_per_token(nbytes, tokens, population=10**9)
    assert est.mean == pytest.approx(nbytes.sum() / tokens.sum())
    # The SE is what resampling documents shows: a bootstrap of the same ratio agrees.
    boot = [
        nbytes[i].sum() / tokens[i].sum() for i in (rng.integers(0, 400, 400) for _ in range(3000))
    ]
    assert est.se == pytest.approx(np.std(boot), rel=0.1)
    # Every document measured: nothing left to sample, SE 0.
    assert bytes_per_token(nbytes, tokens).se == 0.0
    half = bytes_per_token(nbytes, tokens, population=800)
    assert half.se == pytest.approx(est.se * math.sqrt(0.5), rel=1e-3)


def test_convert_weights_by_bytes_per_token():
    w = {"code": 0.5, "text": 0.5}
    proxy = {"code": 2.0, "text": 4.0}  # a code token holds half the bytes of a text token
    assert convert(w, proxy) == pytest.approx({"code": 1 / 3, "text": 2 / 3})
    target = {"code": 4.0, "text": 4.0}
    # the same bytes under a tokenizer that packs both equally: byte shares again
    assert convert(w, proxy, target) == pytest.approx({"code": 1 / 3, "text": 2 / 3})
    back = convert(convert(w, proxy, target), target, proxy)
    assert back == pytest.approx(w)
    # a phase's token count in the other unit: the same bytes
    assert tokens_in(300, w, proxy, target) == pytest.approx(300 * (0.5 * 0.5 + 0.5 * 1.0))


@pytest.mark.parametrize(
    "text,value",
    [("300B", 3e11), ("1.5T", 1.5e12), ("20M", 2e7), ("4e9", 4e9), ("123", 123.0), ("2k", 2e3)],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["0", "-5B", "nan", "inf", "abc", "3X", "", "1e999"])
def test_parse_count_refuses(text):
    with pytest.raises(UnitsError, match="--target-tokens"):
        parse_count(text)


def test_budget_gives_epochs_per_source_and_names_a_source_without_a_figure():
    weights = {"pretrain": {"a": 0.5, "b": 0.5}, "cooldown": {"a": 1.0}}
    tokens = {"pretrain": 100.0, "cooldown": 20.0}
    rows = {r.source: r for r in budget(weights, tokens, {"a": 35.0, "b": 100.0})}
    assert rows["a"].needed == {"pretrain": 50.0, "cooldown": 20.0}
    assert rows["a"].epochs == pytest.approx(2.0) and rows["b"].epochs == pytest.approx(0.5)
    assert [r.source for r in over_cap(list(rows.values()), 1.5)] == ["a"]
    with pytest.raises(UnitsError, match="b"):
        budget(weights, tokens, {"a": 35.0})


def test_rebalance_caps_each_source_and_moves_the_excess_in_proportion():
    weights = {
        "pretrain": {"a": 0.5, "b": 0.3, "c": 0.2},
        "cooldown": {"a": 0.6, "b": 0.1, "c": 0.3},
    }
    tokens = {"pretrain": 800.0, "cooldown": 200.0}
    available = {"a": 50.0, "b": 1000.0, "c": 1000.0}  # a needs 520 tokens: 10.4 epochs
    new = rebalance(weights, tokens, available, max_epochs=4.0)
    rows = {r.source: r for r in budget(new, tokens, available)}
    assert rows["a"].epochs == pytest.approx(4.0)
    for phase, w in new.items():
        assert sum(w.values()) == pytest.approx(1.0)
        # a's share is scaled by the same factor in both phases; b:c keeps its ratio
        assert w["a"] / weights[phase]["a"] == pytest.approx(200 / 520)
        assert w["b"] / w["c"] == pytest.approx(weights[phase]["b"] / weights[phase]["c"])


def test_rebalance_cascades_when_the_excess_pushes_another_source_over():
    weights = {"pretrain": {"a": 0.6, "b": 0.3, "c": 0.1}, "cooldown": {"a": 1.0}}
    tokens = {"pretrain": 1000.0, "cooldown": 0.0}
    available = {"a": 100.0, "b": 100.0, "c": 1000.0}  # cap 2: a <= 200, b <= 200
    new = rebalance(weights, tokens, available, max_epochs=2.0)
    rows = {r.source: r for r in budget(new, tokens, available)}
    assert all(r.epochs <= 2.0 + 1e-9 for r in rows.values())
    assert new["pretrain"] == pytest.approx({"a": 0.2, "b": 0.2, "c": 0.6})


def test_rebalance_refuses_a_cap_nothing_can_meet():
    weights = {"pretrain": {"a": 0.5, "b": 0.5}, "cooldown": {"a": 1.0}}
    tokens = {"pretrain": 1000.0, "cooldown": 100.0}
    with pytest.raises(UnitsError, match="no rebalance meets the cap"):
        rebalance(weights, tokens, {"a": 10.0, "b": 10.0}, max_epochs=4.0)
