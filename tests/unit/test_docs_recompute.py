"""Figures in docs/ recompute from their committed inputs with the committed scripts."""

from __future__ import annotations

import json
import os

from benchmarks import swarm_fit, target_units, verdicts
from tests.helpers import REPO

DOCS = os.path.join(REPO, "docs")


def test_verdicts_md_is_what_its_inputs_give():
    with open(os.path.join(DOCS, "verdicts.md")) as f:
        assert f.read() == verdicts.markdown(verdicts.inputs())


def test_swarm_fit_summary_is_what_its_points_give():
    points = swarm_fit.read_points(DOCS)
    with open(os.path.join(DOCS, "swarm_fit.json")) as f:
        assert json.load(f) == json.loads(json.dumps(swarm_fit.summarise(points)))
    with open(os.path.join(DOCS, "swarm_fit_table.md")) as f:
        assert f.read() == swarm_fit.markdown(swarm_fit.summarise(points))


def test_paper_directions_are_what_the_committed_grid_gives(tmp_path, monkeypatch):
    from benchmarks import paper_directions

    monkeypatch.chdir(REPO)  # the table names the file as the docs' command gives it
    out = str(tmp_path / "pd")
    paper_directions.main(["--grid-run", "docs/bench_grid_points.jsonl", "--out", out])
    with open(out + ".md") as f, open(os.path.join(DOCS, "paper_directions.md")) as g:
        assert f.read() == g.read()


def test_decision_accuracy_is_what_the_committed_grids_give(tmp_path, monkeypatch):
    from benchmarks import decision_accuracy

    monkeypatch.chdir(REPO)
    out = str(tmp_path / "da")
    decision_accuracy.main(
        ["--small", "docs/bench_grid_tiny_points.jsonl", "--large", "docs/bench_grid_points.jsonl",
         "--out", out]
    )  # fmt: skip
    with open(out + ".md") as f, open(os.path.join(DOCS, "decision_accuracy.md")) as g:
        assert f.read() == g.read()


def test_target_units_are_what_their_points_give():
    points = target_units.read_jsonl(os.path.join(DOCS, "target_units_points.jsonl"))
    summary = target_units.summarise(points, target_units.read_jsonl(target_units.GRID))
    with open(os.path.join(DOCS, "target_units.json")) as f:
        assert json.load(f) == json.loads(json.dumps(summary))
    with open(os.path.join(DOCS, "target_units.md")) as f:
        assert f.read() == target_units.markdown(summary)
