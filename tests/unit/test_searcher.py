"""MixtureOptunaSearch: trials the scheduler stopped are PRUNED in the study, never COMPLETE."""

import functools

import optuna

from codemix_search.config.load import load_space
from codemix_search.search.optuna_params import suggest
from codemix_search.search.study import MixtureOptunaSearch
from codemix_search.search.tuner import make_sampler
from tests.helpers import TINY


def searcher(cls=MixtureOptunaSearch, space=None):
    space = space or load_space(TINY)
    s = cls(
        space=functools.partial(suggest, space),
        metric=space.metric_names,
        mode=space.modes,
        sampler=make_sampler(space),
        points_to_evaluate=space.initial_points or None,
    )
    return s, space


def test_finished_pruned_diverged_error_states():
    s, space = searcher()
    for t in ("a", "b", "c", "d"):
        assert s.suggest(t) is not None
    s.on_trial_complete("a", {"evaluated": 1, "nl_reasoning": 0.5, "code": 0.4, "val_loss": 5.0})
    # ASHA stopped b: its last result is a training report, objectives absent.
    s.on_trial_complete("b", {"val_loss": 6.0, "training_iteration": 2})
    s.on_trial_complete("c", {"diverged": 1, "evaluated": 0})
    s.on_trial_complete("d", None, error=True)
    s.on_trial_complete(
        "b", {"evaluated": 1, "nl_reasoning": 0.9, "code": 0.9}
    )  # duplicate: ignored
    states = {t.number: t.state for t in s._ot_study.trials}
    assert states == {
        0: optuna.trial.TrialState.COMPLETE,
        1: optuna.trial.TrialState.PRUNED,
        2: optuna.trial.TrialState.FAIL,
        3: optuna.trial.TrialState.FAIL,
    }
    assert [t.values for t in s._ot_study.best_trials] == [[0.5, 0.4]]


def test_upstream_trap_is_real():
    """Why the subclass exists: upstream OptunaSearch does not mark a partial result PRUNED."""
    from ray.tune.search.optuna import OptunaSearch

    s, _ = searcher(OptunaSearch)
    s.suggest("b")
    s.on_trial_complete("b", {"val_loss": 6.0, "training_iteration": 2})
    assert s._ot_study.trials[0].state != optuna.trial.TrialState.PRUNED


def _space_for(sampler):
    import yaml

    from codemix_search.config.load import parse_space

    raw = yaml.safe_load(open(TINY))
    raw["sampler"] = sampler
    raw["budget"] = {"samples": 6, "concurrency": 2}
    if sampler == "grid":
        raw["parameters"] = {
            "code_fraction": {"type": "categorical", "choices": [0.0, 0.25, 0.5]},
            "cooldown_code_fraction": {"type": "categorical", "choices": [0.0, 0.2]},
            "synthetic_share": 0.1,
            "commit_share": 0.1,
        }
        raw["evaluation"] = {"baseline": {"code_fraction": 0.0, "cooldown_code_fraction": 0.0}}
    return parse_space(raw, "tiny.yaml")


import pytest  # noqa: E402


@pytest.mark.parametrize("sampler", ["tpe", "random", "nsga2", "gp", "grid"])
def test_every_sampler_drives_the_define_by_run_space(sampler):
    s, space = searcher(space=_space_for(sampler))
    configs = []
    for i in range(space.budget.samples):
        cfg = s.suggest(f"t{i}")
        assert cfg is not None
        space.mixture(cfg)  # every suggestion is a valid mixture
        configs.append(cfg)
        s.on_trial_complete(
            f"t{i}",
            {
                "evaluated": 1,
                "nl_reasoning": cfg["code_fraction"],
                "code": 1 - cfg["code_fraction"],
            },
        )
    if sampler != "grid":  # (a grid holds the baseline among its points)
        assert space.is_baseline(configs[0])  # the text-only baseline is tried first
    assert any(space.is_baseline(c) for c in configs)
    if sampler == "grid":
        seen = {(c["code_fraction"], c["cooldown_code_fraction"]) for c in configs}
        assert seen == {(a, b) for a in (0.0, 0.25, 0.5) for b in (0.0, 0.2)}
    assert len(s._ot_study.trials) == space.budget.samples


def test_schedulers():
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    from codemix_search.search.rungs import ObjectiveRungs
    from codemix_search.search.tuner import make_scheduler

    expect = {"asha": ASHAScheduler, "hyperband": HyperBandScheduler, "none": FIFOScheduler}
    for name, cls in expect.items():
        space = load_space(
            TINY, [f"early_stopping.scheduler={name}", "early_stopping.metric=val_loss"]
        )
        assert isinstance(make_scheduler(space), cls)
    # on the objectives, ASHA's scalar rule gives way to the preference / front rule
    assert isinstance(make_scheduler(load_space(TINY)), ObjectiveRungs)


def test_grid_needs_listed_values_and_the_right_sample_count():
    from codemix_search.errors import ConfigError

    with pytest.raises(ConfigError, match="parameters.code_fraction.*categorical"):
        load_space(TINY, ["sampler=grid"])
    import yaml

    from codemix_search.config.load import parse_space

    raw = yaml.safe_load(open(TINY))
    raw["sampler"] = "grid"
    raw["parameters"] = {
        "code_fraction": {"type": "categorical", "choices": [0.0, 0.5]},
        "cooldown_code_fraction": 0.2,
        "synthetic_share": 0.1,
        "commit_share": 0.1,
    }
    with pytest.raises(ConfigError, match="budget.samples.*2 points"):
        parse_space(raw, "g.yaml")


@pytest.mark.parametrize("name", ["tiny.yaml", "demo.yaml", "dirichlet.yaml", "paper_470m.yaml"])
def test_resolved_space_loads_back_unchanged(name, tmp_path):
    import os

    import yaml

    from codemix_search.config.load import parse_space
    from tests.helpers import REPO

    space = load_space(os.path.join(REPO, "search_spaces", name), ["budget.samples=9"])
    text = yaml.safe_dump(space.to_dict())
    again = parse_space(yaml.safe_load(text), space.source_file)
    assert again.to_dict() == space.to_dict() and again.budget.samples == 9


def test_dirichlet_space_through_the_searcher():
    import os

    from tests.helpers import REPO

    space = load_space(os.path.join(REPO, "search_spaces", "dirichlet.yaml"))
    s = MixtureOptunaSearch(
        space=functools.partial(suggest, space),
        metric=space.metric_names,
        mode=space.modes,
        sampler=make_sampler(space),
    )
    for i in range(5):
        cfg = s.suggest(f"t{i}")
        m = space.mixture(cfg)
        assert min(m.pretrain.values()) >= 0.02 - 1e-12 and len(m.pretrain) == 5


def test_token_budget_stopper_and_budget_validation():
    from codemix_search.errors import ConfigError
    from codemix_search.search.callbacks import TokenBudgetStopper

    stop = TokenBudgetStopper(1000)
    assert stop("a", {"tokens": 400}) is False and not stop.stop_all()
    stop("a", {"tokens": 600})  # a trial's latest count, not a sum of its reports
    stop("b", {"val_loss": 3.0})
    assert not stop.stop_all()
    stop("b", {"tokens": 400})
    assert stop.stop_all()
    assert not TokenBudgetStopper(None).stop_all()
    space = load_space(TINY, ["budget.time_budget_s=600", "budget.max_tokens=100000"])
    assert space.budget.time_budget_s == 600 and space.budget.max_tokens == 100000
    with pytest.raises(ConfigError, match="budget.max_tokens"):
        load_space(TINY, ["budget.max_tokens=0"])


def test_trials_cut_by_the_budget_are_recorded_as_such_not_as_pruned():
    from types import SimpleNamespace

    from codemix_search.core.records import TrialStatus
    from codemix_search.search.tuner import _records

    space = load_space(TINY)  # ASHA: a stopped trial would otherwise read "pruned"
    cfg = space.sample(__import__("random").Random(0))

    def result(tid, status=None):
        metrics = {"trial_id": tid, "tokens": 5120, **({"status": status} if status else {})}
        return SimpleNamespace(metrics=metrics, config=cfg, error=None, path=f"/x/{tid}")

    results = [result("a", "finished"), result("b"), result("c")]
    records = {r.trial_id: r for r in _records(results, space, set(), {"c"}, "budget.max_tokens")}
    assert records["b"].status is TrialStatus.PRUNED  # stopped by ASHA before the budget
    assert records["c"].status is TrialStatus.INTERRUPTED
    assert records["c"].metrics["stopped_by"] == "budget.max_tokens"


def test_a_budget_that_cannot_finish_one_trial_is_refused_before_ray(tmp_path):
    from codemix_search.errors import ConfigError
    from codemix_search.preflight import check_budget

    with pytest.raises(ConfigError, match="budget.max_tokens: 1,000 tokens cannot finish"):
        check_budget(load_space(TINY, ["budget.max_tokens=1000"]))
    check_budget(load_space(TINY, ["budget.max_tokens=100000"]))


def test_preference_constraints_reach_optunas_constraints_func():
    """``code <= 3.0``: a trial with code 3.4 is told with a violation of 0.4, which Optuna's
    TPE stores as the trial's constraints (its feasible-first rule reads them); the baseline's
    result sets what ``<= baseline`` compares with."""
    import dataclasses

    from codemix_search.config.load import load_space
    from codemix_search.search.study import ConstraintsFromAttrs
    from codemix_search.search.tuner import make_searcher

    space = load_space(TINY)
    constrained = {"constraints": ["code <= 3.0", "nl_reasoning <= baseline"]}
    space = dataclasses.replace(
        space, ranking=dataclasses.replace(space.ranking, preference=constrained)
    )
    s = make_searcher(space, None, initial=False)
    s.set_search_properties(None, None, {})
    assert isinstance(s._sampler, optuna.samplers.TPESampler)
    for t in ("a", "b"):
        s.suggest(t)
    s.on_trial_complete("a", {"evaluated": 1, "nl_reasoning": 2.8, "code": 3.4, "baseline": 1})
    s.on_trial_complete("b", {"evaluated": 1, "nl_reasoning": 2.9, "code": 2.9})
    got = [t.system_attrs.get("constraints") for t in s._ot_study.trials]
    assert got[0] == pytest.approx((0.4, 0.0)) and got[1] == pytest.approx((0.0, 0.1))
    assert ConstraintsFromAttrs(2)(s._ot_study.trials[1]) == pytest.approx([0.0, 0.1])
    # without constraints the samplers get none
    plain = make_searcher(load_space(TINY), None, initial=False)
    assert plain._sampler._constraints_func is None
