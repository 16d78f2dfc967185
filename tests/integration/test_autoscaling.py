"""Autoscaling, exercised on Ray's fake multinode provider (loopback, own temp dir and ports).

A CPU head (1 CPU, 2 trial-driver slots, no GPU) with a GPU worker type (min 0, max 2): a search
whose trials ask for GPU workers makes the autoscaler start fake GPU nodes, the trials train there
(on CPU: the fake GPU is a resource, not a device) and the nodes are released after the search.
The head runs in its own process group and is ended by that group's id (never `ray stop`).
"""

import json
import threading
import urllib.request

import pytest

from tests.helpers import run_cli
from tests.integration.ray_head import free_port, ray_head, wait_until

pytestmark = pytest.mark.slow

IDLE_MINUTES = 0.1  # fake GPU nodes go after ~6 s idle


def autoscaling_config(gcs_address: str) -> dict:
    return {
        "cluster_name": "codemix-fake",
        "max_workers": 2,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_MINUTES,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,
            # Every fake node is 127.0.0.1: the autoscaler must tell them apart by node id, and
            # there is nothing to SSH into (no updaters, no launch-config check).
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {"ssh_user": "ubuntu"},
        "docker": {},
        "head_node_type": "ray.head.default",
        "available_node_types": {
            "ray.head.default": {"resources": {}, "node_config": {}, "max_workers": 0},
            "gpu_worker": {
                # object_store_memory is popped by the provider; without it each fake node
                # would ask for 30% of RAM.
                "resources": {"CPU": 1, "GPU": 1, "object_store_memory": 200 * 2**20},
                "node_config": {},
                "min_workers": 0,
                "max_workers": 2,
            },
        },
        **{
            k: []
            for k in (
                "initialization_commands",
                "setup_commands",
                "head_setup_commands",
                "worker_setup_commands",
                "head_start_ray_commands",
                "worker_start_ray_commands",
                "cluster_synced_files",
                "rsync_exclude",
                "rsync_filter",
            )
        },
        "file_mounts": {},
        "file_mounts_sync_continuously": False,
    }


@pytest.fixture(scope="module")
def fake_cluster(tmp_path_factory):
    config = tmp_path_factory.mktemp("autoscaling") / "autoscaling.json"
    gcs = free_port()
    config.write_text(json.dumps(autoscaling_config(f"127.0.0.1:{gcs}")))
    args = [
        f"--autoscaling-config={config}",
        "--num-cpus=1",
        "--num-gpus=0",
        "--object-store-memory=300000000",
        '--resources={"trial_driver": 2}',
    ]
    env = {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    with ray_head(args, env, prefix="cm-as-", port=gcs) as h:
        yield h


def gpu_nodes(url: str) -> list[dict]:
    """Alive nodes with a GPU resource, through the dashboard's node list."""
    with urllib.request.urlopen(url + "/api/v0/nodes?limit=100", timeout=20) as r:
        nodes = json.load(r)["data"]["result"]["result"]
    return [
        n for n in nodes if n["state"] == "ALIVE" and n.get("resources_total", {}).get("GPU", 0) > 0
    ]


def test_gpu_trials_scale_fake_gpu_nodes_up_and_down(fake_cluster, tmp_path):
    url = fake_cluster["url"]
    assert gpu_nodes(url) == []  # min_workers 0: no GPU node before the search
    seen: set[str] = set()
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                alive = gpu_nodes(url)
            except OSError:
                alive = []
            seen.update(n["node_id"] for n in alive)
            peak[0] = max(peak[0], len(alive))
            done.wait(1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out = run_cli(
            "--space",
            "search_spaces/tiny.yaml",
            "--storage",
            str(tmp_path),
            "--name",
            "gpu",
            "budget.samples=2",
            "training.use_gpu=true",
            "training.dist_backend=gloo",  # the fake GPUs are a resource, not NCCL devices
            "training.init=scratch",
            "early_stopping.scheduler=none",
            "evaluation.limit=16",
            env={**fake_cluster["env"], "RAY_ADDRESS": fake_cluster["address"]},
            timeout=900,
        )
    finally:
        done.set()
        watcher.join(timeout=30)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    counts = json.loads((tmp_path / "gpu" / "_SUCCESS").read_text())
    assert counts["finished"] == 2
    # Each trial asked for one GPU worker; the head has none, so the autoscaler added fake GPU
    # nodes (both trials at once: two nodes).
    assert peak[0] == 2 and len(seen) >= 2, (peak, seen)
    trial_dirs = sorted((tmp_path / "gpu" / "trials").iterdir())
    for d in trial_dirs:
        trial = json.loads((d / "trial.json").read_text())
        assert trial["training"]["use_gpu"] == "true"
    # Idle after the search, the GPU nodes are released (idle timeout 6 s, 1 s updates).
    assert wait_until(lambda: gpu_nodes(url) == [], timeout=120, interval=2), gpu_nodes(url)
