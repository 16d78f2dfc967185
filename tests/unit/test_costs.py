"""The cost plan's maths and its one-line refusals (pure, no Ray)."""

from __future__ import annotations

import pytest

from codemix_search.analysis.budget import cost_plan
from codemix_search.config.load import load_space
from codemix_search.core import costs
from codemix_search.core.sizes import PROXY_LADDER
from codemix_search.errors import ConfigError
from tests.helpers import REPO, TINY

LADDER = f"{REPO}/search_spaces/proxy_ladder.yaml"


def test_the_ladder_holds_what_its_names_say():
    for name in PROXY_LADDER:
        said = float(name.removeprefix("proxy-").removesuffix("m")) * 1e6
        assert abs(costs.non_embedding_params(name) - said) / said < 0.2, name
    # the tiny model: 2 layers x (4 x 64^2 + 3 x 64 x 192 + 2 x 64) = 106,752
    assert costs.non_embedding_params("tiny") == 106_752
    assert costs.total_params("tiny", 2048) == 106_752 + 2048 * 64 + 64


def test_asha_simulation_bounds():
    assert costs.simulate_asha(10, 7, 2, 2)[:2] != (1.0, 1.0)
    assert costs.simulate_asha(1, 7, 2, 2)[:2] == (1.0, 1.0)  # nothing to compare with
    assert costs.milestones(7, 2, 2) == [2, 4] and costs.milestones(7, 1, 2) == [1, 2, 4]
    share2, finish2, _ = costs.simulate_asha(12, 7, 2, 2)
    share3, finish3, _ = costs.simulate_asha(12, 7, 2, 3)
    assert 0.3 < share2 < 1 and 0 < finish2 < share2  # a stopped trial trained some of it
    assert share3 < share2 and finish3 < finish2  # harder halving saves more


def test_trials_running_together_do_not_see_each_other_at_a_rung():
    one = costs.simulate_asha(12, 7, 2, 2, concurrency=1)
    two = costs.simulate_asha(12, 7, 2, 2, concurrency=2)
    # all at once: every rung is reached by all twelve together, nothing recorded before them
    assert costs.simulate_asha(12, 7, 2, 2, concurrency=12)[:2] == (1.0, 1.0)
    assert one.share < two.share < 1.0 and one.finished < two.finished
    assert 0 < two.share_sd < 0.2  # 12 trials: which ones are stopped moves the total
    # a long evaluation delays the next start: later trials see more, so more are stopped
    assert costs.simulate_asha(12, 7, 2, 2, 2, finish=20.0).share < two.share


def test_plan_arithmetic_by_hand():
    row = costs.Throughput("tiny", "cpu", 1000.0, 10.0, 5.0, "test")
    p = costs.plan(4, 20_000, "tiny", 2048, 64, 1, 2, (0.5, 0.25), row, price_per_hour=3.6)
    # per trial: 10 s + 10,000 tokens / 1,000 tokens/s + 5 s x 0.25 = 21.25 s
    assert p.tokens == 40_000 and p.planned_tokens == 80_000 and p.finished_trials == 1.0
    assert p.device_seconds == 85.0 and p.wall_seconds == costs.RUN_OVERHEAD_S + 2 * 21.25
    assert p.cost == round(85 / 3600 * 3.6, 2)  # money in cents
    assert p.flops == pytest.approx(40_000 * costs.flops_per_token("tiny", 2048, 64))
    with_base = costs.plan(
        4, 20_000, "tiny", 2048, 64, 1, 2, (0.5, 0.25), row, bases=2, base_tokens=5000
    )
    # two bases, one after another: 5,000 tokens / 1,000 tokens/s + 2 x 10 s of overhead
    assert with_base.bases_seconds == 25.0 and with_base.tokens == 45_000
    assert with_base.device_seconds == 85.0 + 25 and with_base.wall_seconds == p.wall_seconds + 25


def test_gpu_rows_are_estimates_that_say_so():
    row = costs.throughput("proxy-30m", "H100", 50_000, 1024)
    assert row.source.startswith("estimated") and row.tokens_per_s > 1e5
    assert costs.throughput("demo", "cpu", 2048, 64).source.startswith("measured")
    assert (
        costs.memory_gib("paper-470m", 50_000, 64, 1024)
        > 24
        > costs.memory_gib("proxy-4m", 50_000, 8, 1024)
    )


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"gpus": 8, "gpu_type": "TPUv9"}, "--gpu-type: unknown 'TPUv9'"),
        ({"gpus": 4}, "--gpus: say which GPU"),
        ({"gpus": 1, "gpu_type": "H100", "price": 0.0}, "--price-per-hour: 0.0: must be > 0"),
        ({"gpus": 1, "gpu_type": "H100", "price": -2.0}, "must be > 0"),
        ({}, "no measured CPU throughput for model proxy-30m"),
    ],
)
def test_bad_plan_requests_are_one_line(kwargs, says):
    with pytest.raises(ConfigError) as e:
        cost_plan(load_space(LADDER), **kwargs)
    assert says in e.value.one_line() and "\n" not in e.value.one_line()


def test_a_model_that_does_not_fit_the_gpu_is_refused():
    space = load_space(LADDER, ["training.model=paper-470m", "training.batch_size=64"])
    with pytest.raises(
        ConfigError, match="training.model: paper-470m .* needs ~\\d+ GiB, L4 has 24"
    ):
        cost_plan(space, gpus=8, gpu_type="L4")
    assert cost_plan(space, gpus=8, gpu_type="H200").trials == 32


def test_the_tiny_plan_uses_the_measured_row():
    p = cost_plan(load_space(TINY))
    assert p.throughput["source"].startswith("measured") and p.concurrency == 2
    assert set(p.to_dict()) >= {"wall_seconds", "device_seconds", "tokens", "flops", "cost"}


def test_a_row_learnt_from_stopped_and_finished_trials():
    # tiny on 2 cores, 2026-11-30: two trials stopped early, two finished (Tune's clock)
    finished = [
        {"tokens": 20480, "tokens_per_s": 2048.0, "train_seconds": 35.0, "time_total_s": 47.0},
        {"tokens": 20480, "tokens_per_s": 2048.0, "train_seconds": 34.0, "time_total_s": 45.0},
    ]
    stopped = [{"tokens": 16384, "time_total_s": 27.0}, {"tokens": 4096, "time_total_s": 21.0}]
    row = costs.learn_row(finished, stopped, "tiny", "cpu", "test")
    # overhead: median of 27 - 8 and 21 - 2 s; a finished trial's extra: median(37, 35) - 19
    assert row.tokens_per_s == 2048.0 and row.overhead_s == 19.0 and row.eval_s == 17.0
    # the plan's mean trial is then the mean of what the four took: (47 + 45 + 27 + 21) / 4
    p = costs.plan(4, 20480, "tiny", 2048, 64, 1, 4, (61440 / 81920, 0.5), row)
    assert p.device_seconds == 47 + 45 + 27 + 21
    # no stopped trial: the loop's own start-up (train_seconds less its tokens) is the overhead
    alone = costs.learn_row(finished, [], "tiny", "cpu", "test")
    assert alone.overhead_s == 24.5 and alone.eval_s == 36.0 - 24.5
