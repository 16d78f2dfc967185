"""Swarm-and-confirm's pure parts: the stages' spaces, the proposals from a fitted swarm and the
predicted-vs-measured comparison, on a synthetic landscape with a known optimum."""

import dataclasses
import random

import numpy as np
import pytest

from codemix_search.analysis.confirm import compare, features, fit_objectives, propose
from codemix_search.analysis.swarm import Block, Swarm
from codemix_search.config.load import load_space
from codemix_search.config.strategy import confirm_space, proxy_space
from codemix_search.core.mixture import PHASES
from codemix_search.errors import ConfigError
from tests.helpers import REPO, TINY

DEMO = f"{REPO}/search_spaces/demo.yaml"


def test_the_stages_are_whole_runs_at_their_sizes():
    space = load_space(DEMO, ["search.strategy=swarm", "search.proxies=12", "search.confirm=2"])
    p = proxy_space(space)
    assert (p.training.model, p.sampler, p.budget.samples) == ("tiny", "random", 12)
    assert p.training.tokens == space.training.tokens // 4
    assert p.training.init_tokens == round(space.training.init_tokens / 4)
    assert p.early_stopping.scheduler == "none" and p.search.strategy == "direct"
    assert p.points_to_evaluate == () and p.name == "demo-proxies"
    picks = [{"code_fraction": 0.3, "cooldown_code_fraction": 0.2, "synthetic_share": 0.1,
              "commit_share": 0.1, "init": "balanced"}] * 2  # fmt: skip
    c = confirm_space(space, picks)
    assert c.training == space.training and c.search.strategy == "direct"
    assert c.branches_cooldowns and not p.branches_cooldowns  # proposals may share pretraining
    assert c.budget.samples == len(c.initial_points) == 3  # the baseline first, then the picks
    assert confirm_space(space).budget.samples == 3  # the plan's: confirm + the baseline
    with pytest.raises(ConfigError, match="search.proxies"):
        load_space(DEMO, ["search.strategy=swarm", "search.proxies=2"])
    with pytest.raises(ConfigError, match="search.proxy_model.*allowed"):
        load_space(DEMO, ["search.proxy_model=huge"])


def truth(space, configs):
    """A landscape: code BPB falls with the code weights, NL BPB rises with them (a trade-off),
    and cooldown code helps NL a little (the paper's direction)."""
    out = {"nl_reasoning": [], "code": []}
    for c in configs:
        m = space.mixture(c)
        code = 1 - m.pretrain.get("text", 0) - m.pretrain.get("knowledge", 0)
        cool = 1 - m.cooldown.get("text", 0) - m.cooldown.get("knowledge", 0)
        out["code"].append(3.5 - 0.8 * code - 0.3 * cool)
        out["nl_reasoning"].append(2.8 + 0.3 * code - 0.1 * cool + 0.4 * cool**2)
    return {k: np.array(v) for k, v in out.items()}


def synthetic_swarm(space, n=40, seed=0):
    rng = random.Random(seed)
    configs = [space.sample(rng) for _ in range(n)]
    sources = sorted({s.name for s in space.catalog})
    columns = tuple(f"{p}/{s}" for p in PHASES for s in sources)
    k = len(sources)
    blocks = tuple(Block(p, tuple(range(i * k, (i + 1) * k))) for i, p in enumerate(PHASES))
    X = features(space, configs, columns)
    swarm = Swarm(columns=columns, blocks=blocks, weights=X, metrics=truth(space, configs),
                  sizes=("tiny",) * n, ids=tuple(map(str, range(n))), origin="synthetic")  # fmt: skip
    return swarm, configs


def test_proposals_follow_the_preference_and_spread_over_the_front():
    space = load_space(TINY)
    swarm, _ = synthetic_swarm(space)
    fits = fit_objectives(space, swarm, regressor="gp")  # auto's cross-validation: ~10 s
    code_first = dataclasses.replace(space.ranking, preference={"weights": {"code": 1}})
    props = propose(dataclasses.replace(space, ranking=code_first), swarm, fits, 3)
    assert [p.role for p in props] == ["optimum", "front", "front"]
    best = truth(space, [props[0].config])["code"][0]
    many = truth(space, [space.sample(random.Random(9)) for _ in range(500)])["code"]
    assert best <= np.quantile(many, 0.05)  # the code optimum is in the best 5% of the space
    nl_first = dataclasses.replace(space.ranking, preference={"weights": {"nl_reasoning": 1}})
    nl = propose(dataclasses.replace(space, ranking=nl_first), swarm, fits, 1)[0]
    assert (
        truth(space, [nl.config])["nl_reasoning"][0]
        < truth(space, [props[0].config])["nl_reasoning"][0]
    )
    X = features(space, [p.config for p in props], swarm.columns)
    assert min(np.abs(X[i] - X[j]).sum() for i in range(3) for j in range(i)) >= 0.1
    # a constraint on a predicted objective is kept
    capped = dataclasses.replace(space.ranking, preference={"weights": {"code": 1},
                                                            "constraints": ["nl_reasoning <= 2.9"]})  # fmt: skip
    held = propose(dataclasses.replace(space, ranking=capped), swarm, fits, 2)
    assert all(p.predicted["nl_reasoning"]["mean"] <= 2.9 for p in held)


def test_compare_measures_the_size_shift_and_the_order():
    space = load_space(TINY)
    swarm, _ = synthetic_swarm(space)
    fits = fit_objectives(space, swarm, regressor="gp")  # auto's cross-validation: ~10 s
    props = propose(space, swarm, fits, 4)
    t = truth(space, [p.config for p in props])
    # the larger size: 0.5 BPB lower everywhere, the same order
    measured = [
        {"trial_id": f"t{i}", "config": p.config,
         "objectives": {n: float(t[n][i] - 0.5) for n in t}}
        for i, p in enumerate(props)
    ]  # fmt: skip
    out = compare(space, swarm, fits, props, measured)
    for name in ("nl_reasoning", "code"):
        o = out["objectives"][name]
        assert o["shift"] == pytest.approx(-0.5, abs=0.05) and o["points"] == 4
        assert o["mean_abs_error_after_shift"] < 0.05
    assert [r["role"] for r in out["points"]] == ["optimum", "front", "front", "front"]
    assert out["objectives"]["code"]["spearman"] > 0.7
