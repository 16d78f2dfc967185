"""Resource planning (pure): drivers hold a slot, workers hold CPUs/GPUs, concurrency fits."""

import pytest

from codemix_search.core.plan import DRIVER_RESOURCE, embedded_cluster_resources, plan_resources
from codemix_search.errors import ConfigError


def test_laptop_two_cores_runs_two_one_worker_trials():
    cluster = {"CPU": 2, DRIVER_RESOURCE: 2}
    plan = plan_resources(
        cluster, workers=1, cpus_per_worker=1, use_gpu="auto", wanted_concurrency=4
    )
    assert plan.driver == {DRIVER_RESOURCE: 1} and plan.worker == {"CPU": 1}
    assert plan.concurrency == 2 and not plan.use_gpu


def test_without_driver_slots_the_driver_costs_a_cpu():
    plan = plan_resources({"CPU": 4}, 1, 1, "false", 4)
    assert plan.driver == {"CPU": 1} and plan.concurrency == 2


def test_auto_uses_gpus_present_and_they_cap_concurrency():
    plan = plan_resources({"CPU": 32, "GPU": 2, DRIVER_RESOURCE: 8}, 2, 4, "auto", 8)
    assert plan.use_gpu and plan.worker == {"CPU": 4, "GPU": 1} and plan.concurrency == 1


def test_true_on_an_autoscaling_cluster_is_capped_by_driver_slots_only():
    # A CPU head with no GPUs yet: the autoscaler adds GPU nodes as trials ask for them.
    plan = plan_resources({"CPU": 1, DRIVER_RESOURCE: 3}, 1, 1, "true", 8)
    assert plan.use_gpu and plan.concurrency == 3


def test_a_cluster_too_small_for_one_trial_is_one_clear_error():
    with pytest.raises(ConfigError, match="cannot run one trial"):
        plan_resources({"CPU": 1, DRIVER_RESOURCE: 2}, 2, 1, "false", 2)


def test_embedded_cluster_declares_one_driver_slot_per_trial():
    assert embedded_cluster_resources(2, 3) == {"num_cpus": 2, "resources": {DRIVER_RESOURCE: 3}}


def test_the_asha_simulation_is_bounded_whatever_the_budget():
    import time

    from codemix_search.core.costs import simulate_asha

    t0 = time.monotonic()
    big = simulate_asha(10_000, 4, 1, 3, concurrency=2)
    assert time.monotonic() - t0 < 5  # was ~2 minutes: every trial simulated, 400 times
    mid = simulate_asha(128, 4, 1, 3, concurrency=2)
    assert abs(big.share - mid.share) < 0.02 and big.share_sd < mid.share_sd
