"""Cost ledger arithmetic (pure, milliseconds)."""

import pytest

from codemix_search.config.load import load_space
from codemix_search.core.ledger import flops_per_token, matmul_params, run_totals, trial_cost
from codemix_search.core.records import TrialRecord
from tests.helpers import TINY


def test_flops_per_token_of_the_tiny_model_by_hand():
    # d 64, 2 layers, d_ff 192, V 2048: 2 * (4*64*64 + 3*64*192) + 2048*64
    assert matmul_params("tiny", 2048) == 2 * (16384 + 36864) + 131072 == 237568
    assert flops_per_token("tiny", 2048, 64) == 6 * 237568 + 6 * 2 * 64 * 64


def test_flops_grow_6x_per_parameter_and_with_context():
    a, b = flops_per_token("demo", 2048, 64), flops_per_token("demo", 2048, 128)
    assert b - a == 6 * 4 * 64 * 128  # attention term: 6 * layers * d_model per extra position


@pytest.fixture()
def space():
    return load_space(TINY)


def rec(status, tokens, **m):
    return TrialRecord("t", status, config={}, metrics={"tokens": tokens, **m})


def test_pruned_trials_save_the_rest_of_their_budget(space):
    planned = space.training.tokens  # 20480
    per = flops_per_token("tiny", 2048, 64)
    c = trial_cost(rec("pruned", 5120, time_total_s=10.0), space, 2048)
    assert c.tokens == 5120 and c.saved_tokens == planned - 5120
    assert c.flops == 5120 * per and c.saved_flops == (planned - 5120) * per
    assert c.device_seconds == 10.0
    done = trial_cost(rec("finished", planned, train_seconds=20.0, eval_seconds=5.0), space, 2048)
    assert done.saved_tokens == 0 and done.device_seconds == 25.0


def test_run_totals_and_saved_share(space):
    costs = [
        trial_cost(rec("finished", 20480, train_seconds=20.0), space, 2048),
        trial_cost(rec("pruned", 5120, time_total_s=5.0), space, 2048),
        trial_cost(rec("pruned", 10240, time_total_s=10.0), space, 2048),
    ]
    t = run_totals(costs)
    assert t["tokens"] == 35840 and t["saved_tokens"] == 15360 + 10240
    assert t["saved_share"] == pytest.approx(25600 / (35840 + 25600))
    assert t["planned_tokens"] == 3 * 20480 and t["device_seconds"] == 35.0


def test_a_trial_that_reused_its_twins_result_costs_nothing(space):
    c = trial_cost(rec("finished", 20480, reused_from="abc", train_seconds=0.0), space, 2048)
    assert c.tokens == 0 and c.flops == 0 and c.device_seconds == 0


def test_a_finished_trial_counts_its_whole_time_on_tunes_clock(space):
    # 20 s training, 5 s evaluation, 8 s more of set-up and writes that Tune's clock saw
    m = {"train_seconds": 20.0, "eval_seconds": 5.0, "time_total_s": 33.0}
    assert trial_cost(rec("finished", 20480, **m), space, 2048).device_seconds == 33.0
    # a clock that missed the evaluation (older results) never counts less than it
    m["time_total_s"] = 22.0
    assert trial_cost(rec("finished", 20480, **m), space, 2048).device_seconds == 25.0
