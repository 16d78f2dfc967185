"""A grid run's per-point data, committed beside the figures made from it, so every figure in
docs/ can be recomputed without the run folder (which holds checkpoints: megabytes per point).

    python benchmarks/grid_points.py runs/bench-grid --out docs/bench_grid

writes ``<out>_points.jsonl`` (one finished point a line: its trial, mixture and settings, seed,
objectives, the categories' scores (BPB, accuracy, Brier), every report of its curve with the rung values ASHA compares, tokens, seconds, the shared pretraining prefix it branched from) and
``<out>_meta.json`` (the resolved space, the run's signal table: the noise components). The
benchmarks (search_efficiency.py, paper_directions.py) read either a run folder or these files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.core.records import TrialRecord, TrialStatus  # noqa: E402
from codemix_search.storage.folder import Folder  # noqa: E402
from codemix_search.storage.layout import RunLayout  # noqa: E402

KEEP = ("tokens", "rung_metric", "val_loss", "training_iteration")


def points(uri: str) -> list[dict]:
    run = Folder(uri)
    out = []
    for line in run.read_text(RunLayout.RECORDS).splitlines():
        r = json.loads(line) if line.strip() else None
        if not r or r["status"] != "finished":
            continue
        trial = RunLayout(run).trial(r["trial_id"]).folder
        m = r.get("metrics") or {}
        # a twin (the same mixture proposed again) reused a result: no curve, nothing trained
        curve = (
            []
            if m.get("reused_from")
            else [json.loads(x) for x in trial.read_text("curve.jsonl").splitlines() if x]
        )
        out.append({
            "trial_id": r["trial_id"], "config": r["config"], "mixture_id": r["mixture_id"],
            "mixture": r["mixture"], "seed": m.get("seed"), "base": m.get("base"),
            "objectives": r["objectives"],
            "metrics": {k: v for k, v in m.items() if k.startswith("category/")},
            "curve": [{k: v for k, v in c.items() if k in KEEP or k.startswith("rung/")}
                      for c in curve],
            "tokens": int(curve[-1]["tokens"]) if curve else None,
            # branched cooldowns (train/prefix.py): the prefix it shares, and the tokens of it
            # another trial trained (0: this trial trained it, or the run did not branch)
            "prefix": m.get("prefix_key"), "shared_tokens": int(m.get("shared_tokens") or 0),
            "seconds": m.get("time_total_s"), "reused_from": m.get("reused_from"),
        })  # fmt: skip
    return sorted(out, key=lambda p: p["trial_id"])


def meta(uri: str) -> dict:
    run = Folder(uri)
    report = run.child("report").read_json("report.json")
    done = run.read_json("_SUCCESS") if run.exists("_SUCCESS") else {}
    data = (run.read_json(RunLayout.RUN) if run.exists(RunLayout.RUN) else {}).get("data") or {}
    return {"run": uri, "space": run.read_yaml(RunLayout.SPACE), "signal": report.get("signal"),
            "run_seconds": done, "data_key": data.get("key"),
            "tokenizer_sha256": data.get("tokenizer_sha256")}  # fmt: skip


def read(path: str) -> tuple[dict, list[dict]]:
    """(meta, points) from ``<out>_points.jsonl`` (its meta beside it)."""
    with open(path) as f:
        rows = [json.loads(x) for x in f if x.strip()]
    with open(path.replace("_points.jsonl", "_meta.json")) as f:
        return json.load(f), rows


def as_records(rows: list[dict]) -> list[TrialRecord]:
    """Points as the finished trial records the analysis functions take (the point's seed,
    base, tokens and seconds go into the record's metrics)."""
    fields = ("trial_id", "config", "mixture", "mixture_id", "objectives")
    extra = ("seed", "base", "tokens", "seconds")
    return [
        TrialRecord(
            status=TrialStatus.FINISHED,
            metrics={**p.get("metrics", {}), **{k: p[k] for k in extra if k in p}},
            **{k: p[k] for k in fields if k in p},
        )
        for p in rows
    ]


def load(uri: str):
    """(parsed space, points) from a grid run folder or its committed ``_points.jsonl``."""
    from codemix_search.config.load import parse_space

    if uri.endswith("_points.jsonl"):
        info, rows = read(uri)
        return parse_space(info["space"], uri), rows
    run = Folder(uri)
    return parse_space(run.read_yaml(RunLayout.SPACE), run.file(RunLayout.SPACE)), points(uri)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--out", default="docs/bench_grid")
    args = ap.parse_args(argv)
    rows = points(args.run)
    with open(args.out + "_points.jsonl", "w") as f:
        f.writelines(json.dumps(p, sort_keys=True) + "\n" for p in rows)
    with open(args.out + "_meta.json", "w") as f:
        json.dump(meta(args.run), f, indent=1, sort_keys=True, default=str)
    print(f"{len(rows)} points -> {args.out}_points.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
