import itertools
import math

import pytest

from codemix_search.core.mixture import Mixture, SourceInfo, mixture_from_shares, phase_weights

GRID = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    "code,syn,com", [c for c in itertools.product(GRID, GRID, GRID) if c[1] + c[2] <= 1]
)
def test_phase_weights_are_a_distribution(code, syn, com):
    w = phase_weights(code, syn, com)
    assert all(v >= 0 for v in w.values())
    assert math.isclose(sum(w.values()), 1.0, abs_tol=1e-12)
    code_part = w["code"] + w["synthetic_code"] + w["commits"]
    assert math.isclose(code_part, code, abs_tol=1e-12)
    if code > 0:
        assert math.isclose(w["synthetic_code"] / code, syn, abs_tol=1e-12)
        assert math.isclose(w["commits"] / code, com, abs_tol=1e-12)


def test_source_weights_split_their_group():
    catalog = (
        SourceInfo("web", "text", weight=3),
        SourceInfo("wiki", "hq_text", weight=1),
        SourceInfo("gh", "code", weight=1),
        SourceInfo("html", "markup", weight=1),
    )
    w = phase_weights(0.2, 0.0, 0.0, catalog)
    assert math.isclose(w["web"], 0.6) and math.isclose(w["wiki"], 0.2)
    assert math.isclose(w["gh"], 0.1) and math.isclose(w["html"], 0.1)


def test_user_kind_counts_as_text_and_phases_restrict_sources():
    catalog = (
        SourceInfo("web", "text"),
        SourceInfo("math", "math"),
        SourceInfo("books", "hq_text", phases=("cooldown",)),
        SourceInfo("gh", "code"),
    )
    pre = phase_weights(0.5, 0.0, 0.0, catalog, "pretrain")
    cool = phase_weights(0.5, 0.0, 0.0, catalog, "cooldown")
    assert "books" not in pre and math.isclose(pre["math"], 0.25)
    assert math.isclose(cool["books"], 0.5 / 3)


def test_share_without_a_source_is_an_error_naming_the_kind():
    catalog = (SourceInfo("web", "text"), SourceInfo("gh", "code"))
    assert phase_weights(0.5, 0.0, 0.0, catalog)["gh"] == 0.5
    with pytest.raises(ValueError, match="synthetic_code"):
        phase_weights(0.5, 0.2, 0.0, catalog)
    with pytest.raises(ValueError, match="text"):
        phase_weights(0.5, 0.0, 0.0, (SourceInfo("gh", "code"),))


def test_mixture_has_both_phases_and_stable_id():
    shares = {
        "code_fraction": 0.5,
        "synthetic_share": 0.1,
        "commit_share": 0.2,
        "cooldown_code_fraction": 0.2,
    }
    a, b = mixture_from_shares(shares), mixture_from_shares(dict(shares))
    assert a.id == b.id and len(a.id) == 12
    assert math.isclose(sum(a.cooldown[s] for s in ("code", "synthetic_code", "commits")), 0.2)
    assert mixture_from_shares({**shares, "code_fraction": 0.6}).id != a.id


@pytest.mark.parametrize(
    "code,syn,com",
    [(-0.1, 0, 0), (1.1, 0, 0), (0.5, 0.7, 0.4), (0.5, -0.1, 0)],
)
def test_invalid_shares_rejected(code, syn, com):
    with pytest.raises(ValueError):
        phase_weights(code, syn, com)


def test_mixture_rejects_weights_not_summing_to_one():
    with pytest.raises(ValueError):
        Mixture(pretrain={"text": 0.5, "code": 0.4}, cooldown={"text": 1.0})
    with pytest.raises(ValueError):
        Mixture(pretrain={"text": 1.5, "code": -0.5}, cooldown={"text": 1.0})


def test_dirichlet_weights_cover_the_simplex_and_respect_min_weight():
    import random

    from codemix_search.core.mixture import DEMO_CATALOG, dirichlet_phase, mixture_from_dirichlet

    assert dirichlet_phase({"a": math.exp(-1), "b": math.exp(-1)}) == {"a": 0.5, "b": 0.5}
    assert dirichlet_phase({"a": math.exp(-3), "b": math.exp(-1)}) == pytest.approx(
        {"a": 0.75, "b": 0.25}
    )
    rng = random.Random(0)
    for _ in range(200):
        u = {s: rng.uniform(1e-6, 1) for s in "abcde"}
        w = dirichlet_phase(u, min_weight=0.05)
        assert math.isclose(sum(w.values()), 1.0) and min(w.values()) >= 0.05 - 1e-12
    with pytest.raises(ValueError, match="min_weight"):
        dirichlet_phase({"a": 0.5, "b": 0.5}, min_weight=0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        dirichlet_phase({"a": 0.0, "b": 0.5})
    cfg = {f"w_{p}_{s.name}": 0.5 for p in ("pretrain", "cooldown") for s in DEMO_CATALOG}
    m = mixture_from_dirichlet(cfg, DEMO_CATALOG)
    assert m.pretrain == pytest.approx({s.name: 0.2 for s in DEMO_CATALOG})


def test_recipe_weights_are_rounded_to_sum_to_exactly_one():
    from decimal import Decimal

    from codemix_search.core.mixture import rounded_weights

    w = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    out = rounded_weights(w)
    assert sum(Decimal(repr(v)) for v in out.values()) == 1
    assert sorted(out.values()) == [0.333333, 0.333333, 0.333334]
    rng = __import__("random").Random(0)
    for _ in range(200):
        w = {f"s{i}": rng.random() for i in range(rng.randint(1, 9))}
        out = rounded_weights(w)
        assert sum(Decimal(repr(v)) for v in out.values()) == 1
        assert all(abs(out[s] - w[s] / sum(w.values())) <= 1e-6 for s in w)
