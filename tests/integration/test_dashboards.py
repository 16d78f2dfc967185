"""Dashboards query only metrics that exist (ours, from codemix_search/observability/prometheus.py, and Ray's own),
and `codemix_search dashboards push` provisions them through grafana-client. No Grafana server
installs offline: the push is tested against a loopback HTTP server that speaks the part of the
Grafana HTTP API the client uses (POST /api/dashboards/db), declared here as such."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codemix_search.observability import prometheus as metrics
from codemix_search.observability.dashboards import dashboard_files, metric_names, queries
from tests.helpers import REPO


def ray_metric_names() -> set[str]:
    from ray.dashboard.modules.reporter.reporter_agent import METRICS_GAUGES

    return {"ray_" + name for name in METRICS_GAUGES}


def test_every_query_reads_metrics_that_exist_and_every_metric_is_shown():
    known = metrics.prometheus_names() | ray_metric_names()
    assert {"ray_node_cpu_utilization", "ray_node_mem_used"} <= known
    files = dashboard_files()
    assert files
    shown = set()
    for path in files:
        dash = json.load(open(path))
        assert dash["uid"] and dash["title"]
        for expr in queries(dash):
            names = metric_names(expr)
            assert names and names <= known, (path, expr, names - known)
            shown |= names
    assert metrics.prometheus_names() <= shown  # no metric without a panel


def test_metric_name_parser():
    assert metric_names('sum by (status) (ray_codemix_trials{SessionName=~"$session"})') == {
        "ray_codemix_trials"
    }
    assert metric_names('sum(rate(ray_x_total{a="b"}[5m])) * 60') == {"ray_x_total"}


def test_recording_outside_ray_is_a_no_op():
    metrics.record_report("t", {"tokens_per_s": 1.0, "val_loss/text": 2.0, "phase": "cooldown"})
    metrics.record("codemix_trials", 1, status="running")


class FakeGrafana(BaseHTTPRequestHandler):
    """Loopback stand-in for Grafana's POST /api/dashboards/db."""

    seen: list = []
    fail = False

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, self.headers.get("Authorization"), body))
        if self.fail:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"message": "database is locked"}')
            return
        uid = body["dashboard"]["uid"]
        reply = {"status": "success", "uid": uid, "url": f"/d/{uid}", "version": 1, "id": 7}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(reply).encode())


@pytest.fixture()
def grafana():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeGrafana.seen, FakeGrafana.fail = [], False
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _push(url, env):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "codemix_search",
            "dashboards",
            "push",
            "--grafana-url",
            url,
            "--folder-uid",
            "cm",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_push_provisions_every_dashboard_with_the_token_from_the_environment(grafana):
    r = _push(grafana, {"GRAFANA_TOKEN": "glsa_test"})
    assert r.returncode == 0, r.stderr
    assert "success: /d/codemix-search" in r.stdout and "glsa_test" not in r.stdout + r.stderr
    assert len(FakeGrafana.seen) == len(dashboard_files())
    path, auth, body = FakeGrafana.seen[0]
    assert path == "/api/dashboards/db" and auth == "Bearer glsa_test"
    assert body["overwrite"] is True and body["folderUid"] == "cm" and "id" not in body["dashboard"]


def test_push_without_token_or_against_a_failing_grafana_is_one_line(grafana):
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "codemix_search", "dashboards", "push", "--grafana-url", grafana],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 2 and "GRAFANA_TOKEN: not set" in r.stderr and not FakeGrafana.seen
    FakeGrafana.fail = True
    r = _push(grafana, {"GRAFANA_TOKEN": "t"})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "push failed" in r.stderr
