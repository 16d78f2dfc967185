"""A real Prometheus (Debian's) scrapes a live local Ray through Ray's own file-SD config: Ray's
node metrics arrive, our own series (recorded by codemix_search.metrics from an actor, as trial
workers do, and from the driver, as the search does) arrive under the names the dashboards use,
and every dashboard query is valid PromQL that the server evaluates."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from codemix_search.observability.dashboards import dashboard_files, queries

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMETHEUS is None, reason="Debian's prometheus is not installed (.ci/run installs it)"
    ),
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def ray_with_prometheus():
    import ray

    os.environ["RAY_metrics_report_interval_ms"] = "1000"  # export every second, not every 10
    temp = tempfile.mkdtemp(prefix="cm-prom-", dir="/tmp")
    ray.init(
        num_cpus=1,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=_port(),
        _temp_dir=temp,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    session = ray._private.worker.global_worker.node.get_session_dir_path()
    with open(os.path.join(session, "metrics", "prometheus", "prometheus.yml")) as f:
        config = yaml.safe_load(f)  # Ray's own config: file-SD over the node's metrics ports
    config["global"]["scrape_interval"] = "1s"
    work = tempfile.mkdtemp(prefix="cm-prom-data-")
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        yaml.safe_dump(config, f)
    port = _port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work}/prometheus.yml",
            f"--storage.tsdb.path={work}/data",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        ray.shutdown()
        os.environ.pop("RAY_metrics_report_interval_ms", None)
        shutil.rmtree(work, ignore_errors=True)


def _until(fn, timeout: float = 90):
    """Poll until ``fn`` returns something truthy (scrapes happen every second)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            out = fn()
            if out:
                return out
        except OSError:
            pass
        time.sleep(1)
    return None


def test_prometheus_scrapes_ray_and_evaluates_every_dashboard_query(ray_with_prometheus):
    base = ray_with_prometheus
    # Ray's own node metrics (the cluster row of the dashboard) arrive through Ray's file-SD.
    cpu = _until(lambda: _query(base, "ray_node_cpu_utilization")["data"]["result"])
    assert cpu, "Prometheus saw no ray_node_cpu_utilization series"
    for path in dashboard_files():
        for expr in queries(json.load(open(path))):
            if expr.startswith("label_values("):
                continue  # a Grafana templating function, not PromQL
            out = _query(base, expr.replace("$session", ".*"))
            assert out["status"] == "success", (expr, out)  # valid PromQL, evaluated


def test_our_metrics_reach_prometheus_under_the_dashboard_names(ray_with_prometheus):
    import ray

    from codemix_search.observability import prometheus as metrics

    @ray.remote(num_cpus=0)
    class Worker:
        def report(self):
            metrics.record_report(
                "trial_a", {"tokens_per_s": 1234.0, "tokens": 5000, "val_loss/code": 2.5}
            )

    worker = Worker.remote()
    ray.get(worker.report.remote())
    metrics.record("codemix_best_hypervolume", 0.42)
    metrics.record("codemix_trials", 3, status="finished")
    metrics.record("codemix_eval_seconds", 12.5, trial="trial_a")
    metrics.record("codemix_device_seconds_total", 30.0)
    base = ray_with_prometheus

    def series(expr):
        return _query(base, expr)["data"]["result"]

    tps = _until(lambda: series('ray_codemix_tokens_per_second{trial="trial_a"}'))
    assert tps and float(tps[0]["value"][1]) == 1234.0
    loss = _until(lambda: series('ray_codemix_val_loss{source="code"}'))
    assert loss and float(loss[0]["value"][1]) == 2.5
    hv = _until(lambda: series("ray_codemix_best_hypervolume"))
    assert hv and float(hv[0]["value"][1]) == 0.42
    trials = _until(lambda: series('ray_codemix_trials{status="finished"}'))
    assert trials and float(trials[0]["value"][1]) == 3
    # Every panel of ours returns series, not just a valid empty result. The driver records its
    # gauges again first, as it does at every trial event (a gauge set once and never again can
    # age out of Ray's exporter on a loaded machine: seen once for codemix_eval_seconds).
    metrics.record("codemix_eval_seconds", 12.5, trial="trial_a")
    metrics.record("codemix_device_seconds_total", 30.0)
    for path in dashboard_files():
        exprs = [e for e in queries(json.load(open(path))) if "ray_codemix_" in e]
        assert len(exprs) >= 8
        for expr in exprs:
            assert _until(lambda e=expr: series(e.replace("$session", ".*"))), expr
