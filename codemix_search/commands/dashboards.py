"""``codemix_search dashboards push``: provision the Grafana dashboards in dashboards/
(observability/dashboards.py). The token comes from the environment variable ``--token-env``
names, never from a flag, and is never printed."""

from __future__ import annotations

import os
import sys

from codemix_search.errors import OneLineParser
from codemix_search.observability.dashboards import push


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="codemix_search dashboards", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("push", help="create or update the dashboards in a Grafana")
    p.add_argument("--grafana-url", required=True)
    p.add_argument("--folder-uid", default=None)
    p.add_argument("--token-env", default="GRAFANA_TOKEN")
    args = ap.parse_args(argv)
    token = os.environ.get(args.token_env)
    if not token:
        print(
            f"error: {args.token_env}: not set; export a Grafana service-account token",
            file=sys.stderr,
        )
        return 2
    try:
        results = push(args.grafana_url, token, args.folder_uid)
    except Exception as e:  # noqa: BLE001 - one line for the user, whatever the client raised
        print(
            f"error: {args.grafana_url}: push failed: {type(e).__name__}: {str(e)[:200]}",
            file=sys.stderr,
        )
        return 1
    for r in results:
        print(f"{r.get('status', 'ok')}: {r.get('url') or r.get('uid')}")
    return 0
