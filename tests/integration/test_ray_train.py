"""Trial training on a real local Ray cluster (Train V2): a killed worker resumes from its last
checkpoint and finishes exactly like an unkilled run; two DDP workers (gloo, CPU) train like one
worker with the whole batch; bases are trained once and reused."""

import dataclasses
import os
import time

import pytest

from codemix_search.config.load import load_space
from codemix_search.core.plan import ResourcePlan
from codemix_search.storage.folder import Folder
from codemix_search.train.loop import train_loop_per_worker
from codemix_search.train.loop_config import loop_config
from tests.helpers import TINY, TINY_SHARES, session_temp

pytestmark = pytest.mark.slow

SHARES = TINY_SHARES
PLAN = ResourcePlan(driver={}, worker={"CPU": 1}, workers=1, use_gpu=False, concurrency=1)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    temp = session_temp("cm-rt-")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


def fit(cfg, storage, name, workers=1, max_failures=0):
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=cfg.to_dict(),
        scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(
            name=name,
            storage_path=str(storage),
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    return trainer.fit()


def tiny_cfg(tiny_data, **over):
    cfg = loop_config(load_space(TINY), SHARES, tiny_data.uri, tiny_data.manifest, seed=11)
    cfg = cfg.replace(**over)
    return cfg


def test_killed_worker_resumes_from_its_checkpoint_with_the_same_result(
    ray_cluster, tiny_data, tmp_path
):
    clean = fit(tiny_cfg(tiny_data), tmp_path, "clean")
    marker = tmp_path / "killed-once"
    fault = {"kill_at_step": 24, "marker": str(marker)}  # between the checkpoints at 20 and 30
    killed = fit(tiny_cfg(tiny_data, fault=fault), tmp_path, "killed", max_failures=1)
    assert marker.exists()  # the worker really died (SIGKILL) once
    # It restarted from a checkpoint, not from scratch: the one after step 20 if the controller
    # registered it before the kill (reports reach it by polling), else the one after step 10.
    assert killed.metrics["resumed_at_step"] in (10, 20) and clean.metrics["resumed_at_step"] == 0
    for key in ("val_loss", "train_loss", "tokens", "step"):
        assert killed.metrics[key] == clean.metrics[key], key
    assert killed.checkpoint is not None


def test_two_ddp_workers_train_like_one_worker_with_the_whole_batch(
    ray_cluster, tiny_data, tmp_path
):
    one = fit(tiny_cfg(tiny_data, steps=20, evals=2), tmp_path, "one", workers=1)
    two = fit(tiny_cfg(tiny_data, steps=20, evals=2), tmp_path, "two", workers=2)
    # Each rank computes half the batch; DDP averages gradients = the full-batch gradient, up to
    # float summation order.
    assert two.metrics["val_loss"] == pytest.approx(one.metrics["val_loss"], rel=1e-3)
    assert two.metrics["tokens"] == one.metrics["tokens"]
    assert two.metrics["val_loss"] < 7.0  # it learned (random init is ~7.6 for a 2k vocab)


def test_bases_are_trained_once_and_reused(ray_cluster, tiny_data, tmp_path):
    from codemix_search.train.bases import ensure_bases

    space = load_space(TINY)
    space = dataclasses.replace(
        space,
        training=dataclasses.replace(space.training, init="balanced", init_tokens=8 * 64 * 16),
    )
    store = Folder(str(tmp_path / "store"))
    t0 = time.time()
    first = ensure_bases(space, tiny_data, store, PLAN)
    built = time.time() - t0
    assert set(first) == {"balanced"}
    base = Folder(first["balanced"])
    assert base.is_complete() and base.exists("model.safetensors")
    info = base.read_json("base.json")
    weights = info["mixture"]["pretrain"]
    assert weights["code"] == pytest.approx(0.5) and weights.get("synthetic_code", 0) == 0
    assert info["steps"] == 16
    marker = os.path.join(base.local_path(), "_SUCCESS")
    mtime = os.stat(marker).st_mtime_ns
    t0 = time.time()
    again = ensure_bases(space, tiny_data, store, PLAN)
    assert again == first and os.stat(marker).st_mtime_ns == mtime
    assert time.time() - t0 < built / 5  # reused, not retrained
    # A trial of this space starts from that base.
    cfg = loop_config(
        space, {**SHARES, "init": "balanced"}, tiny_data.uri, tiny_data.manifest, 1, first
    )
    assert cfg.init_uri == first["balanced"]


def test_reaper_frees_a_placement_group_a_dead_trial_left_behind(ray_cluster):
    """A group made by an actor (as Train's controller makes its workers' group) outlives that
    actor; the driver's reaper removes it once the trial ended + grace, not before."""
    import types

    import ray
    from ray.util.placement_group import placement_group

    from codemix_search.search.callbacks import PlacementGroupReaper

    @ray.remote(num_cpus=0)
    class Controller:
        def reserve(self):
            pg = placement_group([{"CPU": 1}])
            ray.get(pg.ready())
            return pg.id.hex()

    controller = Controller.remote()
    pg_hex = ray.get(controller.reserve.remote())
    ray.kill(controller)
    now = [0.0]
    reaper = PlacementGroupReaper(grace_s=30, clock=lambda: now[0])
    trial = types.SimpleNamespace(trial_id="t1")
    reaper.on_trial_result(0, [], trial, {"placement_group": pg_hex})
    reaper.on_trial_complete(0, [], trial)

    def state():
        return ray.util.placement_group_table()[pg_hex]["state"]

    assert state() == "CREATED"  # leaked: its creator is dead, the job is not
    now[0] = 29.0
    reaper.on_step_begin(0, [])
    assert state() == "CREATED" and reaper.reaped == []
    now[0] = 31.0
    reaper.on_step_begin(0, [])
    assert state() == "REMOVED"
    assert reaper.reaped == [("t1", pg_hex)]
    reaper.on_experiment_end([])  # nothing left to free, and no error
    # The freed CPU is schedulable again: both cores fit one group (times out if still held).
    both = placement_group([{"CPU": 2}])
    ray.get(both.ready(), timeout=60)
    ray.util.remove_placement_group(both)


def test_our_errors_reach_the_driver_intact_from_a_worker(ray_cluster):
    """Raised in a Ray task, each error type arrives at the driver as itself, with its one line
    (an Exception whose __init__ differs from its args used to arrive as a TypeError)."""
    import ray

    from codemix_search.errors import CodemixError, ConfigError, DataError, StorageError

    @ray.remote(num_cpus=0)
    def fail(kind: str):
        raise {
            "config": ConfigError("space.yaml", "training.lr", "must be > 0"),
            "data": DataError("shard.npy", "sha256", "corrupt; delete it to rebuild"),
            "storage": StorageError("s3://b/run", "unreachable for 2 s"),
        }[kind]

    for kind, cls in (("config", ConfigError), ("data", DataError), ("storage", StorageError)):
        with pytest.raises(cls) as e:
            ray.get(fail.remote(kind))
        assert isinstance(e.value, CodemixError)
        assert e.value.one_line() in str(e.value)
