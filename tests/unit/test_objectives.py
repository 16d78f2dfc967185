"""Objectives name their metric; a metric the suite does not produce is one line, at load."""

from __future__ import annotations

import pytest

from codemix_search.config.load import load_space
from codemix_search.errors import ConfigError
from tests.helpers import TINY


def objectives(*specs: str) -> list[str]:
    return [f"objectives=[{', '.join(specs)}]"]


def test_keys_follow_the_metric():
    space = load_space(
        TINY,
        objectives(
            "{name: a, category: code, metric: bpb, mode: min}",
            "{name: b, category: code, mode: max}",
            "{name: c, task: demo_code, metric: bpb, mode: min}",
            "{name: d, source: code, metric: bpb, mode: min}",
            "{name: e, category: nl_reasoning, metric: brier, mode: min}",
        ),
    )
    keys = [o.key for o in space.objectives]
    assert keys == [
        "category/code/bpb",
        "category/code",
        "demo_code/gold_bpb",
        "heldout/code/bpb",
        "category/nl_reasoning/brier",
    ]


@pytest.mark.parametrize(
    "spec, field, says",
    [
        (
            "{name: a, category: generative, metric: brier, mode: min}",
            "objectives[0].metric",
            "allowed: acc, bpb",
        ),
        (
            "{name: a, task: demo_code_pass1, metric: bpb, mode: min}",
            "objectives[0].metric",
            "reports no 'bpb'",
        ),
        (
            "{name: a, category: code, metric: bpb, mode: max}",
            "objectives[0].mode",
            "lower-is-better",
        ),
        ("{name: a, source: nope, metric: bpb, mode: min}", "objectives[0].source", "not a source"),
        (
            "{name: a, source: code, metric: acc, mode: max}",
            "objectives[0].metric",
            "scored by bpb",
        ),
        ("{name: a, category: code, task: demo_code, mode: max}", "objectives[0]", "give one of"),
    ],
)
def test_bad_objective_metrics_are_one_line(spec, field, says):
    with pytest.raises(ConfigError) as e:
        load_space(TINY, objectives(spec))
    line = e.value.one_line()
    assert field in line and says in line and "\n" not in line


@pytest.mark.parametrize(
    "override, field",
    [
        ("evaluation.noise_checkpoints=0", "evaluation.noise_checkpoints"),
        ("evaluation.noise_limit=1", "evaluation.noise_limit"),
        ("training.seed_offset=-1", "training.seed_offset"),
    ],
)
def test_noise_settings_are_checked(override, field):
    with pytest.raises(ConfigError, match=field):
        load_space(TINY, [override])


def test_stopping_on_the_objectives_needs_bpb_objectives():
    with pytest.raises(ConfigError, match="early_stopping.metric.*metric: bpb"):
        load_space(TINY, objectives("{name: a, category: code, mode: max}"))
    space = load_space(
        TINY,
        [*objectives("{name: a, category: code, mode: max}"), "early_stopping.metric=val_loss"],
    )
    assert space.early_stopping.metric == "val_loss"


def test_a_space_without_a_baseline_has_no_baseline_trial():
    space = load_space(TINY, ["evaluation.baseline={}"])
    assert not space.is_baseline({"code_fraction": 0.0, "cooldown_code_fraction": 0.0})
    assert load_space(TINY).is_baseline({"code_fraction": 0.0, "cooldown_code_fraction": 0.0})


def test_compile_is_auto_by_default_and_can_be_turned_off():
    assert load_space(TINY).training.compile == "auto"  # on for CUDA workers, off on CPU
    assert load_space(TINY, ["training.compile=false"]).training.compile == "false"
    assert load_space(TINY, ["training.compile=true"]).training.compile == "true"  # YAML bool
    with pytest.raises(ConfigError, match="training.compile: must be auto, true or false"):
        load_space(TINY, ["training.compile=maybe"])
