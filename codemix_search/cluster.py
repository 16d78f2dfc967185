"""Ray at the edge: connect to a cluster or start an embedded one on loopback, and plan the
resources of trials on it. Nothing else in the package starts Ray."""

from __future__ import annotations

import os
import socket

from codemix_search.core.plan import ResourcePlan, embedded_cluster_resources, plan_resources
from codemix_search.errors import ConfigError

CONNECT_S = 5.0  # a cluster's head answers on its LAN in milliseconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ray(address: str | None, concurrency: int, temp_dir: str | None = None) -> bool:
    """Connect to a cluster (address or RAY_ADDRESS, as under `ray job submit`) or start an
    embedded one on loopback. Returns True when we started it (and must shut it down)."""
    # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        check_address(address)
        try:
            ray.init(address=address, log_to_driver=True)
        except (ConnectionError, ValueError, TimeoutError) as e:
            raise ConfigError("--address", "", f"{address}: {str(e).splitlines()[0]}") from None
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    res = embedded_cluster_resources(os.cpu_count() or 2, concurrency)
    ray.init(
        num_cpus=res["num_cpus"],
        resources=res["resources"],
        # The dashboard serves the state API that Train V2 uses to free a stopped trial's
        # placement group; without it stopped trials leak reservations and later trials hang.
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=_free_port(),
        _node_ip_address="127.0.0.1",
        _temp_dir=temp_dir or os.environ.get("CODEMIX_RAY_TEMP_DIR") or None,
        log_to_driver=False,
        configure_logging=False,
    )
    return True


def check_address(address: str) -> None:
    """One line, within seconds, for an address no Ray cluster answers at (Ray itself waits
    ~60 s printing GCS warnings, then raises; an HTTP address raises a multi-line ValueError)."""
    if address == "auto":
        return
    if address.startswith(("http://", "https://")):
        raise ConfigError(
            "--address",
            "",
            f"{address} is an HTTP address (the dashboard / job API); give the cluster's GCS "
            f"address host:6379, or submit with `ray job submit --address {address}`",
        )
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("--address", "", f"{address!r}: give host:port (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_S) as s:
            if address.startswith("ray://"):
                return
            # Ray's GCS speaks gRPC (HTTP/2): it answers with a binary SETTINGS frame. A web
            # server answers HTTP/1 text, and Ray would wait on it for a minute.
            s.settimeout(CONNECT_S)
            s.sendall(b"GET / HTTP/1.0\r\nHost: codemix\r\n\r\n")
            answer = s.recv(16)
    except OSError as e:
        raise ConfigError(
            "--address",
            "",
            f"nothing answers at {hostport} ({e.strerror or type(e).__name__}); start the "
            "cluster (`ray start --head`) or fix the address",
        ) from None
    if answer.startswith(b"HTTP/"):
        raise ConfigError(
            "--address",
            "",
            f"{hostport} is a web server, not a Ray cluster's GCS; give the GCS address "
            "(host:6379 on the head)",
        )


# Ray Tune copies these from the driver's environment into each trainable's runtime_env, and
# Ray's runtime-env agent logs every runtime_env in plain text (logs/runtime_env_agent.log): a
# user's AWS keys would end up in Ray's logs. Trials get credentials the way the driver's own
# Ray processes do: the embedded cluster's workers inherit the driver's environment; cluster
# nodes use their instance role / service account (cluster/).
CREDENTIAL_VARS = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECURITY_TOKEN",
    "AWS_SESSION_TOKEN",
}


def keep_credentials_out_of_runtime_envs() -> None:
    # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE = set(class_cache.ENV_VARS_TO_PROPAGATE) - CREDENTIAL_VARS


def resource_plan(space) -> ResourcePlan:
    # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
    import ray

    t = space.training
    return plan_resources(
        ray.cluster_resources(),
        t.workers,
        t.cpus_per_worker,
        t.use_gpu,
        space.budget.concurrency,
        backend=t.dist_backend,
    )
