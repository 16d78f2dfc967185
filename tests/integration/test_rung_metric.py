"""Early stopping follows the objectives: with ``early_stopping.metric: objectives`` a rung
compares the objectives' own BPB (on a fixed subset of their eval items), so on a space whose
objective prefers text the text-only mixture is not stopped for a worse mean validation loss over
sources (three of the demo's five sources are code), as it is when ASHA compares ``val_loss``."""

from __future__ import annotations

import os

import pytest

from codemix_search.config.load import load_space
from codemix_search.core.suites import suite_for
from codemix_search.data.dataset import materialize
from codemix_search.evaluate.rung_metric import rung_pairs
from codemix_search.search.rungs import ObjectiveRungs
from codemix_search.search.tuner import make_scheduler, scheduler_metric
from codemix_search.train.loop import train
from codemix_search.train.loop_config import loop_config
from tests.helpers import TINY

TEXT = {"code_fraction": 0.0, "synthetic_share": 0.0, "commit_share": 0.0}
TEXT |= {"cooldown_code_fraction": 0.0, "init": "scratch"}
CODE = {"code_fraction": 0.9, "synthetic_share": 0.2, "commit_share": 0.2}
CODE |= {"cooldown_code_fraction": 0.5, "init": "scratch"}
# A space whose only objective prefers text (NL reasoning's gold BPB), and whose baseline is
# neither trial, so what ASHA decides is the metric's doing alone.
OVERRIDES = [
    "objectives=[{name: nl, category: nl_reasoning, metric: bpb, mode: min}]",
    "evaluation.baseline={code_fraction: 0.3, cooldown_code_fraction: 0.1}",
    # the preference (search/rungs.py): ASHA's keep-the-best-half rule on it
    "ranking.preference={weights: {nl: 1}}",
]


class Trial:
    """What ASHA reads of a Tune trial (hashable, as Tune's trials are)."""

    def __init__(self, trial_id: str, config: dict):
        self.trial_id, self.config = trial_id, config


@pytest.fixture(scope="module")
def curves(tiny_data):
    space = load_space(TINY, OVERRIDES)
    eval_dir = os.path.join(materialize(tiny_data.uri, tiny_data.manifest), "eval")
    pairs = rung_pairs(space.objectives, suite_for(space.evaluation), eval_dir)
    out = {}
    for name, shares in (("text", TEXT), ("code", CODE)):
        cfg = loop_config(space, shares, tiny_data.uri, tiny_data.manifest, seed=5)
        cfg = cfg.replace(steps=80, rung_pairs={k: [list(p) for p in v] for k, v in pairs.items()})
        reports = []
        train(cfg, report=lambda m, d=None, r=reports: r.append(m))
        out[name] = reports
    return space, out


def test_rung_metric_ranks_as_the_objective_and_val_loss_does_not(curves):
    _, c = curves
    # At every report the objective's rung metric prefers text, as the objective does.
    for text, code in zip(c["text"], c["code"], strict=True):
        assert text["rung_metric"] < code["rung_metric"], text["step"]
    text = c["text"][-1]
    # rung_metric is the mean of the last two reports' objective BPB
    last_two = [r["rung/nl"] for r in c["text"][-2:]]
    assert text["rung_metric"] == pytest.approx(sum(last_two) / 2)


def _decisions(scheduler, first, second, curves_by_name, rung_iter: int = 2) -> dict:
    """Feed both trials' reports up to ``rung_iter`` to the scheduler, ``first`` reporting
    each iteration before ``second``; return what it decided for each."""
    configs = {"text": TEXT, "code": CODE}
    trials = {name: Trial(name, configs[name]) for name in (first, second)}
    for t in trials.values():
        scheduler.on_trial_add(None, t)
    decided = {}
    for it in range(1, rung_iter + 1):
        for name in (first, second):
            if name in decided:
                continue
            result = {**curves_by_name[name][it - 1], "training_iteration": it}
            if scheduler.on_trial_result(None, trials[name], result) == "STOP":
                decided[name] = f"STOP at {it}"
    return decided


def test_asha_on_the_objectives_keeps_text_and_on_val_loss_stops_it(curves):
    space, c = curves
    assert scheduler_metric(space) == ("rung_metric", "min")
    assert not space.is_baseline(TEXT) and not space.is_baseline(CODE)
    for order in (("code", "text"), ("text", "code")):
        aligned = make_scheduler(space)
        assert isinstance(aligned, ObjectiveRungs)
        assert "text" not in _decisions(aligned, *order, c)
    assert "code" in _decisions(make_scheduler(space), "text", "code", c)
    # Which of the two has the lower mean validation loss at 80 tiny steps depends on the commit
    # history the data is built from (0.0005 apart at the first rung, either way round), so the
    # text mixture is given a validation loss just above the code one's at every report: a text
    # mixture behind on the mean over sources, ahead on the objective.
    behind = [
        {**t, "val_loss": k["val_loss"] + 0.01} for t, k in zip(c["text"], c["code"], strict=True)
    ]
    shifted = {**c, "text": behind}
    legacy = load_space(TINY, [*OVERRIDES, "early_stopping.metric=val_loss"])
    assert scheduler_metric(legacy) == ("val_loss", "min")
    assert "text" in _decisions(make_scheduler(legacy), "code", "text", shifted)
    for order in (("code", "text"), ("text", "code")):
        assert "text" not in _decisions(make_scheduler(space), *order, shifted)


def test_the_baseline_is_never_stopped_even_when_it_is_worst(curves):
    space, c = curves
    # The code-heavy mixture as the baseline: worse on the objective, still not stopped.
    code_baseline = load_space(
        TINY,
        [
            *OVERRIDES,
            "evaluation.baseline={code_fraction: 0.9, cooldown_code_fraction: 0.5}",
        ],
    )
    assert code_baseline.is_baseline(CODE)
    assert "code" not in _decisions(make_scheduler(code_baseline), "text", "code", c)


def test_batched_rung_scores_equal_one_item_at_a_time(tiny_data):
    """GPU batches (right-padded, no mask: causal attention never sees the pads) score exactly
    what one-at-a-time scoring does."""
    from transformers import PreTrainedTokenizerFast

    from codemix_search.train.model import build_model
    from codemix_search.train.rung_scoring import RungScorer

    space = load_space(TINY)
    local = materialize(tiny_data.uri, tiny_data.manifest)
    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, "tokenizer"))
    pairs = rung_pairs(space.objectives, suite_for(space.evaluation), os.path.join(local, "eval"))
    scorer = RungScorer(pairs, tok, 512)
    model = build_model("tiny", tiny_data.manifest.vocab_size, 64, seed=0)
    one, batched = scorer.score(model, "cpu", 1), scorer.score(model, "cpu", 16)
    assert set(one) == {"nl_reasoning", "code"}
    for name in one:
        assert batched[name] == pytest.approx(one[name], rel=1e-5)
