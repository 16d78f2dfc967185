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
import threading
import time
import types
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from codemix_search.observability.dashboards import dashboard_files, queries
from tests.helpers import REPO, session_temp

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


class GrafanaHealth(BaseHTTPRequestHandler):
    """Loopback stand-in for Grafana's GET /api/health, the one call the Ray dashboard makes to
    decide it can embed Grafana (no Grafana server installs offline)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"database": "ok", "version": "11.0.0"}).encode()
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def _query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def ray_with_prometheus():
    import ray

    os.environ["RAY_metrics_report_interval_ms"] = "1000"  # export every second, not every 10
    temp = session_temp("cm-prom-")
    port = _port()
    grafana = ThreadingHTTPServer(("127.0.0.1", 0), GrafanaHealth)
    threading.Thread(target=grafana.serve_forever, daemon=True).start()
    # What cluster/*.yaml set on the head (there Grafana and Prometheus are on the head's
    # loopback; the browser reaches Grafana through the SSH tunnel, at IFRAME_HOST).
    monitoring = {
        "RAY_PROMETHEUS_HOST": f"http://127.0.0.1:{port}",
        "RAY_GRAFANA_HOST": f"http://127.0.0.1:{grafana.server_address[1]}",
        "RAY_GRAFANA_IFRAME_HOST": "http://127.0.0.1:3000",
    }
    os.environ.update(monitoring)
    dashboard_port = _port()
    ray.init(
        num_cpus=1,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=dashboard_port,
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
        yield types.SimpleNamespace(
            prometheus=f"http://127.0.0.1:{port}",
            dashboard=f"http://127.0.0.1:{dashboard_port}",
            session=session,
            temp=temp,
        )
    finally:
        grafana.shutdown()
        for k in monitoring:
            os.environ.pop(k, None)
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
    base = ray_with_prometheus.prometheus
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
    base = ray_with_prometheus.prometheus

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


def test_the_ray_dashboard_embeds_grafana_with_the_clusters_settings(ray_with_prometheus):
    """The three RAY_* variables of cluster/*.yaml, read by a real Ray dashboard: its Metrics tab
    finds Grafana (and hands the browser the tunnelled address) and a real Prometheus."""
    env = ray_with_prometheus
    health = _until(lambda: _get(f"{env.dashboard}/api/grafana_health"))
    assert health["msg"] == "Grafana running", health
    assert health["data"]["grafanaHost"] == "http://127.0.0.1:3000"
    assert health["data"]["dashboardUids"]["default"]
    prom = _until(lambda: _get(f"{env.dashboard}/api/prometheus_health"))
    assert prom["result"] is True and prom["msg"] == "prometheus running", prom


def test_our_dashboard_goes_where_rays_grafana_provisioning_reads(ray_with_prometheus):
    """The launcher configs copy dashboards/*.json into <session_latest>/metrics/grafana/
    dashboards: the folder Ray's own Grafana provisioning file names, beside Ray's dashboards."""
    env = ray_with_prometheus
    latest = os.path.join(env.temp, "session_latest", "metrics", "grafana")
    with open(os.path.join(latest, "provisioning", "dashboards", "default.yml")) as f:
        provider = yaml.safe_load(f)["providers"][0]
    folder = os.path.realpath(provider["options"]["path"])
    assert folder == os.path.realpath(os.path.join(latest, "dashboards"))
    assert any(n.endswith(".json") for n in os.listdir(folder))  # Ray's own are there
    for name in ("aws-gpu.yaml", "gcp-gpu.yaml"):
        text = open(os.path.join(REPO, "cluster", name)).read()
        assert (
            "cp ~/codemix_dashboards/*.json /tmp/ray/session_latest/metrics/grafana/dashboards/"
            in text
        )
        assert "--config /tmp/ray/session_latest/metrics/grafana/grafana.ini" in text
