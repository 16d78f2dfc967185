"""``codemix_search dashboards push``: provision the Grafana dashboards in dashboards/.

    GRAFANA_TOKEN=<service account token> codemix_search dashboards push \
        --grafana-url http://grafana.monitoring.svc:3000 [--folder-uid codemix]

Uses the maintained ``grafana-client`` (POST /api/dashboards/db, overwrite on). The token is read
from the environment variable named by ``--token-env`` (default GRAFANA_TOKEN), never from a
flag or a file, and never printed. Each dashboard's PromQL uses only metric names defined in
codemix_search/observability/prometheus.py or exported by Ray itself (tests/integration/test_dashboards.py).
"""

from __future__ import annotations

import glob
import json
import os
import re

# <repo>/dashboards: codemix_search/observability/ is two folders below the repository root.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARDS = os.path.join(_REPO, "dashboards")
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "rate", "by", "without", "count", "increase", "irate", "on",
    "label_values", "SessionName", "status", "trial", "source", "instance", "GpuIndex",
}  # fmt: skip


def dashboard_files(folder: str = DASHBOARDS) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.json")))


def queries(dashboard: dict) -> list[str]:
    out = [t["expr"] for p in dashboard.get("panels", []) for t in p.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            out.append(var["query"])
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (identifiers that are not functions, keywords,
    labels, strings or durations)."""
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {n for n in names if n not in PROMQL_WORDS}


def push(url: str, token: str | None, folder_uid: str | None = None, folder: str = DASHBOARDS):
    # imported here, not at the top: only for `dashboards push`
    from grafana_client import GrafanaApi

    api = GrafanaApi.from_url(url, credential=token, timeout=10.0)
    results = []
    for path in dashboard_files(folder):
        with open(path) as f:
            dashboard = json.load(f)
        dashboard.pop("id", None)  # Grafana assigns ids; uid identifies the dashboard
        payload = {"dashboard": dashboard, "overwrite": True, "message": "codemix_search push"}
        if folder_uid:
            payload["folderUid"] = folder_uid
        results.append(api.dashboard.update_dashboard(payload))
    return results
