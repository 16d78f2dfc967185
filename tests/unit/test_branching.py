"""Branched cooldowns, the pure parts: what a shared prefix is keyed by, which parameters are
cooldown-only, the two-level sampler's enqueued variants and the ledger's shared tokens."""

import dataclasses

import pytest

from codemix_search.config.load import load_space, parse_space
from codemix_search.core.ledger import line, run_totals, trial_cost
from codemix_search.core.records import TrialRecord, TrialStatus
from codemix_search.data.dataset import DataManifest
from codemix_search.search.tuner import make_searcher
from codemix_search.train.loop_config import loop_config
from codemix_search.train.prefix import branch_config, prefix_key, prefix_loop_config
from tests.helpers import REPO, TINY, TINY_SHARES

BENCH = f"{REPO}/search_spaces/bench_grid.yaml"
MANIFEST = DataManifest.from_dict(
    {"key": "k", "tokenizer_sha256": "t", "vocab_size": 2048, "eos_id": 0,
     "sources": {s: {} for s in ("text", "knowledge", "code", "synthetic_code", "commits")}}
)  # fmt: skip


def branch(space, shares=None, **over):
    cfg = loop_config(space, {**TINY_SHARES, **(shares or {})}, "mem://d", MANIFEST, seed=7)
    return branch_config(cfg.replace(**over), space.seed)


def test_cooldown_variants_share_a_prefix_and_other_pretraining_does_not():
    space = load_space(TINY)
    a = branch(space, {"cooldown_code_fraction": 0.0})
    b = branch(space, {"cooldown_code_fraction": 0.4})
    assert a.mixture["cooldown"] != b.mixture["cooldown"]
    assert prefix_key(a) == prefix_key(b) and a.pretrain_seed == b.pretrain_seed
    # the trial's own seed is untouched (its cooldown data), the prefix's is shared
    assert a.seed == b.seed == 7 and a.pretrain_seed != 7
    c = branch(space, {"code_fraction": TINY_SHARES["code_fraction"] + 0.1})
    assert prefix_key(c) != prefix_key(a) and c.pretrain_seed != a.pretrain_seed
    # a seed replica retrains its pretraining; how many workers run it does not matter
    assert prefix_key(branch(space, seed_offset=1)) != prefix_key(a)
    assert prefix_key(branch(space, workers=2)) == prefix_key(a)
    assert prefix_key(branch(space, lr=0.001)) != prefix_key(a)
    assert prefix_key(branch(space, init_uri="/other/base")) != prefix_key(a)
    # validating on every source: the replayed reports are the branch's own
    assert a.val_sources == MANIFEST.source_names


def test_the_prefix_config_stops_where_the_cooldown_starts():
    cfg = branch(load_space(TINY))
    p = prefix_loop_config(cfg)
    assert p.stop_step == cfg.schedule.cooldown_start == 32  # 40 steps, 20% cooldown
    assert p.mixture["cooldown"] == p.mixture["pretrain"] == cfg.mixture["pretrain"]
    assert p.pretrain_seed == cfg.pretrain_seed and p.schedule == cfg.schedule


def test_cooldown_parameters_are_found_whatever_the_parametrisation():
    assert load_space(BENCH).cooldown_param_names == ("cooldown_code_fraction",)
    dirichlet = load_space(f"{REPO}/search_spaces/dirichlet.yaml")
    assert dirichlet.cooldown_param_names and all(
        "cooldown" in n for n in dirichlet.cooldown_param_names
    )
    # auto: on for a grid over a cooldown knob, off for a sampler drawing fresh pretraining
    assert load_space(BENCH).branches_cooldowns and not load_space(TINY).branches_cooldowns


def tiny_raw(**extra):
    import yaml

    with open(TINY) as f:
        raw = yaml.safe_load(f)
    return raw | extra


def test_branching_section_is_checked_in_one_line():
    space = parse_space(tiny_raw(branching={"variants": 3}), "s.yaml")
    assert space.branches_cooldowns
    assert not parse_space(
        tiny_raw(branching={"variants": 3, "cooldowns": "off"}), "s.yaml"
    ).branches_cooldowns
    with pytest.raises(Exception, match=r"s.yaml: branching.variants"):
        parse_space(tiny_raw(branching={"variants": 0}), "s.yaml")
    with pytest.raises(Exception, match=r"branching.cooldowns.*allowed: auto, on, off"):
        parse_space(tiny_raw(branching={"cooldowns": "yes"}), "s.yaml")


def test_two_level_sampler_keeps_the_pretraining_for_k_variants():
    space = parse_space(tiny_raw(branching={"variants": 3}, sampler="tpe"), "s.yaml")
    space = dataclasses.replace(space, budget=dataclasses.replace(space.budget, samples=9))
    s = make_searcher(space, None, initial=False)
    s.set_search_properties(None, None, {})
    configs = [s.suggest(f"t{i}") for i in range(9)]
    keep = [n for n in ("code_fraction", "synthetic_share", "commit_share")]
    for g in range(3):  # a leader, then its 2 variants
        group = configs[3 * g : 3 * g + 3]
        assert len({tuple(c[n] for n in keep) for c in group}) == 1
        assert len({c["cooldown_code_fraction"] for c in group}) == 3
    assert (
        len({configs[0]["code_fraction"], configs[3]["code_fraction"], configs[6]["code_fraction"]})
        == 3
    )
    # without variants: every trial draws its own pretraining
    plain = make_searcher(parse_space(tiny_raw(), "s.yaml"), None, initial=False)
    plain.set_search_properties(None, None, {})
    assert len({plain.suggest(f"u{i}")["code_fraction"] for i in range(3)}) == 3


def test_ledger_counts_a_shared_prefix_once():
    space = load_space(TINY)  # 20,480 tokens a trial, 16,384 of them pretraining

    def rec(status, **m):
        return TrialRecord("t", status, dict(TINY_SHARES), None, None, {}, m)

    owner = trial_cost(rec(TrialStatus.FINISHED, tokens=20480), space, 2048)
    branch_ = trial_cost(rec(TrialStatus.FINISHED, tokens=20480, shared_tokens=16384), space, 2048)
    assert owner.tokens == 20480 and owner.shared_tokens == 0
    assert branch_.tokens == 4096 and branch_.shared_tokens == 16384
    # stopped mid-cooldown: it saved what was left of its own cooldown, not the shared part
    pruned = trial_cost(rec(TrialStatus.PRUNED, tokens=18432, shared_tokens=16384), space, 2048)
    assert (pruned.tokens, pruned.saved_tokens) == (2048, 2048)
    totals = run_totals([owner, branch_, pruned])
    assert totals["tokens"] == 20480 + 4096 + 2048 and totals["shared_tokens"] == 32768
    assert totals["shared_share"] == pytest.approx(32768 / (26624 + 2048 + 32768))
    assert "shared pretraining saved 32,768 tokens (53%)" in line(totals)
    assert "shared" not in line(run_totals([owner]))
