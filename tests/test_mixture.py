import itertools
import math

import pytest

from codemix_search.mixture import Mixture, mixture_from_shares, phase_weights

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


def test_text_weights_split_the_text_part():
    w = phase_weights(0.2, 0.0, 0.0, {"text": 3, "knowledge": 1})
    assert math.isclose(w["text"], 0.6) and math.isclose(w["knowledge"], 0.2)


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
