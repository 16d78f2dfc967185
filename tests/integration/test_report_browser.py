"""The interactive Pareto page renders in a real browser (Debian's chromium, headless): plotly's
JavaScript runs offline from the self-contained HTML and draws one point per finished trial."""

import shutil
import subprocess

import pytest

from codemix_search.config.load import load_space
from codemix_search.export.recipes import export_run
from codemix_search.storage.folder import Folder
from tests.helpers import TINY
from tests.integration.test_export import DATA_INFO, make_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)


def test_pareto_html_renders_in_headless_chromium(tmp_path):
    space = load_space(TINY)
    run = Folder(str(tmp_path / "run"))
    records = make_records(space, run)
    export_run(records, space, run, "r1", DATA_INFO)
    page = tmp_path / "run" / "report" / "pareto.html"
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = out.stdout
    assert "main-svg" in dom, out.stderr[-2000:]  # plotly built its SVG: the script ran
    finished = sum(r.finished for r in records)
    assert dom.count('class="point"') == finished
