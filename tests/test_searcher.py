"""MixtureOptunaSearch: trials the scheduler stopped are PRUNED in the study, never COMPLETE."""

import optuna

from codemix_search.search import MixtureOptunaSearch, make_sampler
from codemix_search.space import load_space
from tests.conftest import TINY


def searcher(cls=MixtureOptunaSearch):
    space = load_space(TINY)
    s = cls(
        space=space.suggest,
        metric=space.metric_names,
        mode=space.modes,
        sampler=make_sampler(space),
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
