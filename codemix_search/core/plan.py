"""Resource planning for trials (pure): who reserves what, and how many trials fit at once.

Each trial is one driver (the Tune function that runs the TorchTrainer and then lm-eval) plus N
Ray Train workers. On 2 cores, a driver holding a whole CPU next to a 1-CPU worker lets only one
trial run, and two trials can wait on each other forever. So drivers hold a custom resource,
``trial_driver`` (the embedded cluster declares one per allowed concurrent trial; a cluster head can
declare it too), and only workers hold CPUs/GPUs. Without that resource a driver takes 1 CPU and the
plan counts it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from codemix_search.errors import ConfigError

DRIVER_RESOURCE = "trial_driver"


@dataclass(frozen=True)
class ResourcePlan:
    driver: dict
    """Resources of each trial's driver (Tune function trainable)."""
    worker: dict
    """Resources of each Ray Train worker."""
    workers: int
    use_gpu: bool
    concurrency: int
    backend: str = "auto"
    """torch.distributed backend of the workers: auto (Ray Train's choice) | nccl | gloo."""

    def torch_config(self):
        """Ray Train's TorchConfig for ``backend`` (None = Ray's default)."""
        if self.backend == "auto":
            return None
        # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
        from ray.train.torch import TorchConfig

        return TorchConfig(backend=self.backend)


def plan_resources(
    cluster: Mapping[str, float],
    workers: int,
    cpus_per_worker: int,
    use_gpu: str,
    wanted_concurrency: int,
    backend: str = "auto",
) -> ResourcePlan:
    """Fit ``wanted_concurrency`` trials into ``cluster`` (ray.cluster_resources()).

    GPUs: 'auto' uses them when the cluster has any now; 'true' always. With 'true' the cluster
    is taken to autoscale (GPU worker groups start at 0 nodes), so neither its current GPUs nor
    its current CPUs cap concurrency: trials wait for nodes instead. Driver slots still cap it.
    """
    gpus = float(cluster.get("GPU", 0))
    gpu = use_gpu == "true" or (use_gpu == "auto" and gpus >= 1)
    worker = {"CPU": cpus_per_worker, **({"GPU": 1} if gpu else {})}
    if cluster.get(DRIVER_RESOURCE, 0) >= 1:
        driver = {DRIVER_RESOURCE: 1}
        driver_cpu = 0
        slot_cap = int(cluster[DRIVER_RESOURCE])
    else:
        driver = {"CPU": 1}
        driver_cpu = 1
        slot_cap = wanted_concurrency
    per_trial_cpu = driver_cpu + workers * cpus_per_worker
    cpu_cap = (
        int(float(cluster.get("CPU", 0)) // per_trial_cpu) if per_trial_cpu else wanted_concurrency
    )
    caps = [wanted_concurrency, slot_cap]
    if use_gpu != "true":
        caps.append(cpu_cap)
    if gpu and use_gpu == "auto":
        caps.append(int(gpus // workers))
    concurrency = min(caps)
    if concurrency < 1:
        need = f"{per_trial_cpu} CPU" + (f" and {workers} GPU" if gpu else "")
        raise ConfigError(
            "cluster",
            "training.workers",
            f"the cluster ({dict(cluster)}) cannot run one trial, which needs {need}; "
            "lower training.workers / training.cpus_per_worker or add nodes",
        )
    return ResourcePlan(
        driver=driver,
        worker=worker,
        workers=workers,
        use_gpu=gpu,
        concurrency=concurrency,
        backend=backend,
    )


def embedded_cluster_resources(cpus: int, concurrency: int) -> dict:
    """What the embedded (laptop) Ray declares: all cores plus one driver slot per trial."""
    return {
        "num_cpus": max(1, cpus),
        "resources": {DRIVER_RESOURCE: max(1, math.ceil(concurrency))},
    }
