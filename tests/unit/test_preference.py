"""The preference (core/preference.py) and the rung rules that follow it (search/rungs.py):
pure maths, milliseconds, each number worked by hand."""

from __future__ import annotations

import pytest

from codemix_search.config.load import load_space
from codemix_search.core.preference import Constraint, Preference, PreferenceError, rank, scores
from codemix_search.errors import ConfigError
from codemix_search.search.rung_placement import rung_iterations
from codemix_search.search.rungs import decide
from tests.helpers import TINY

NAMES, MODES = ["nl", "code"], ["min", "min"]


def test_objectives_are_scaled_before_they_are_weighted():
    # code spans 0.6, nl 0.02: a raw mean is code; scaled by their ranges both count alike
    rows = [[3.00, 3.0], [3.02, 2.4], [3.01, 2.7]]
    s = scores(rows, NAMES, MODES, {"nl": 1.0, "code": 1.0})
    # behind the best, in ranges: row 0 is (0, 1) behind, row 1 (1, 0), row 2 (0.5, 0.5)
    assert s == pytest.approx([-1.0, -1.0, -1.0])
    only_nl = scores(rows, NAMES, MODES, {"nl": 1.0})
    assert only_nl == pytest.approx([0.0, -1.0, -0.5])
    # by noise instead of range: 0.01 of nl is one unit, 0.3 of code is one unit
    by_noise = scores(rows, NAMES, MODES, {"nl": 1.0, "code": 1.0}, noise=[0.01, 0.3])
    assert by_noise == pytest.approx([-2.0, -2.0, -2.0])


def test_a_max_objective_counts_upward():
    s = scores([[0.5], [0.7]], ["acc"], ["max"], {"acc": 2.0})
    assert s == pytest.approx([-2.0, 0.0])


def test_constraints_against_a_number_and_the_baseline():
    c = Constraint.parse("code <= baseline", NAMES)
    assert c.violation(2.5, {"code": 2.6}) == 0.0
    assert c.violation(2.9, {"code": 2.6}) == pytest.approx(0.3)
    assert c.violation(2.9, None) is None  # the baseline has not reported: no evidence
    assert Constraint.parse("nl >= 1.5", NAMES).violation(1.2) == pytest.approx(0.3)
    for bad in ("code < 2", "loss <= 1", "code <= lots", "code <= inf"):
        with pytest.raises(PreferenceError):
            Constraint.parse(bad, NAMES)


def test_rank_puts_feasible_trials_first_then_by_violation():
    p = Preference.parse({"nl": 1.0}, ["code <= baseline"], NAMES)
    rows = [[2.9, 3.2], [3.0, 2.5], [2.8, 3.5]]  # the best nl (row 2) breaks code <= 3.0 most
    assert rank(rows, NAMES, MODES, p, baseline={"code": 3.0}) == [1, 0, 2]
    assert rank(rows, NAMES, MODES, Preference.parse({"nl": 1.0}, [], NAMES)) == [2, 0, 1]


def test_the_space_reads_and_refuses_a_preference():
    space = load_space(
        TINY, ["ranking.preference={weights: {nl_reasoning: 2}, constraints: ['code <= baseline']}"]
    )
    assert space.preference.weights == {"nl_reasoning": 2.0}
    assert str(space.preference.constraints[0]) == "code <= baseline"
    for bad, says in (
        ("ranking.preference={weights: {nl: 1}}", "not an objective"),
        ("ranking.preference={weights: {code: -1}}", ">= 0"),
        ("ranking.preference={weights: {code: 0}}", "at least one"),
        ("ranking.preference={constraints: 'code <= 1'}", "a list"),
        ("ranking.preference={favourite: code}", "unknown"),
    ):
        with pytest.raises(ConfigError, match=says):
            load_space(TINY, [bad])


def test_the_front_rule_stops_only_what_enough_trials_dominate():
    none = Preference()
    others = [[3.0, 3.0], [2.9, 2.9], [3.5, 2.0]]
    # dominated by two ([3.0, 3.0] and [2.9, 2.9]): stopped with dominated_by=2, not with 3
    assert decide([3.1, 3.1], others, MODES, NAMES, none, 2, 2)[0] is True
    assert decide([3.1, 3.1], others, MODES, NAMES, none, 2, 3)[0] is False
    # best on code alone: never stopped, however bad on nl
    assert decide([9.0, 1.0], others, MODES, NAMES, none, 2, 1)[0] is False


def test_the_preference_rule_keeps_the_best_fraction_on_the_preference():
    p = Preference({"nl": 1.0})
    others = [[3.0, 2.0], [3.2, 2.0], [3.4, 2.0]]
    assert decide([2.9, 9.0], others, MODES, NAMES, p, 2, 2)[0] is False  # best on nl
    assert decide([3.3, 1.0], others, MODES, NAMES, p, 2, 2)[0] is True  # below the median
    # a rung's first trial sets the cutoff itself: it continues
    assert decide([5.0, 5.0], [], MODES, NAMES, p, 2, 2)[0] is False


def test_a_trial_breaking_a_constraint_stops_once_another_keeps_it():
    p = Preference({"nl": 1.0}, (Constraint("code", "<=", None),))
    base = {"nl": 3.0, "code": 2.5}
    assert decide([2.0, 2.8], [[3.1, 2.4]], MODES, NAMES, p, 2, 2, base)[0] is True
    assert decide([2.0, 2.8], [[3.1, 2.9]], MODES, NAMES, p, 2, 2, base)[0] is False


def test_one_rung_falls_inside_the_cooldown():
    space = load_space(TINY)  # 40 steps, cooldown the last 8: reports 9, 19, 29, 31, 35, 39
    rungs = rung_iterations(space)
    t = space.training
    from codemix_search.core.schedule import Schedule
    from codemix_search.train.loop_config import report_steps

    schedule = Schedule(t.steps, t.lr, t.cooldown_share, t.warmup_share)
    steps = report_steps(schedule, t.evals, space.evaluation.noise_checkpoints)
    inside = [r for r in rungs if schedule.cooldown_start <= steps[r - 1] < t.steps - 1]
    assert inside, (rungs, steps)
    assert max(rungs) < len(steps)  # never at the end of training: nothing left to save


def test_pick_ranks_a_run_by_a_preference_given_after_the_fact():
    from codemix_search.analysis.pick import pick
    from codemix_search.core.records import TrialRecord

    space = load_space(TINY)  # objectives nl_reasoning, code (both BPB, min)
    rows = {"base": (3.00, 3.00), "a": (2.90, 3.20), "b": (3.05, 2.50), "c": (2.95, 2.95)}
    records = [
        TrialRecord(t, "finished", objectives={"nl_reasoning": nl, "code": code},
                    metrics={"baseline": int(t == "base")})
        for t, (nl, code) in rows.items()
    ] + [TrialRecord("p", "pruned")]  # fmt: skip
    nl_first = pick(records, space, Preference({"nl_reasoning": 1.0}))
    assert [p.trial_id for p in nl_first] == ["a", "c", "base", "b"]
    # code no worse than the baseline's 3.00: a (3.20) goes last, whatever its nl
    kept = pick(
        records,
        space,
        Preference.parse({"nl_reasoning": 1}, ["code <= baseline"], ["nl_reasoning", "code"]),
    )
    assert [p.trial_id for p in kept] == ["c", "base", "b", "a"]
    assert kept[-1].violations == {"code <= baseline": pytest.approx(0.2)}
    # no noise measured: nothing is called tied; with noise, c is within it of the top pick
    assert all(p.within_noise is None for p in kept)
    noisy = pick(
        records, space, Preference({"nl_reasoning": 1.0}), {"nl_reasoning": 0.05, "code": 0.05}
    )
    # a - c = 0.05 in nl = 1 noise unit; sd of a difference = sqrt(2) units: within 1.96 sd
    assert noisy[1].trial_id == "c" and noisy[1].within_noise is True
    assert noisy[-1].trial_id == "b" and noisy[-1].within_noise is False  # 3 units behind
