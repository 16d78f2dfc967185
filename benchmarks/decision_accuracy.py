"""Decision accuracy across scales: do the same mixtures rank the same at two model sizes?

Two recorded runs over the same mixtures (the large one, e.g. the bench grid at the demo model,
and the small one replaying its points at a smaller model with fewer tokens)::

    python codemix_search/run.py --space search_spaces/bench_grid.yaml --name bench-grid \
        --storage runs
    python -m codemix_search transfer runs/bench-grid --space-for tiny > grid_tiny.yaml
    python codemix_search/run.py --space grid_tiny.yaml --name bench-grid-tiny --storage runs \
        training.tokens=25600 training.init_tokens=12800
    python benchmarks/decision_accuracy.py --small runs/bench-grid-tiny --large runs/bench-grid \
        --out docs/decision_accuracy

Per category and metric family (gold BPB, accuracy, Brier): pairwise decision accuracy (the
share of mixture pairs the small scale orders as the large one does; DataDecide's measure), and
Spearman and Kendall, each with a 95% bootstrap interval over mixtures
(codemix_search/analysis/transfer.py). Anchors: DataDecide ~0.80 pairwise (150M -> 1B); Olmix
Spearman > 0.89 for proxies >= 15M, 0.73 at 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.analysis.transfer import match, rank_correlations  # noqa: E402
from codemix_search.core.records import TrialRecord  # noqa: E402
from codemix_search.export.recipes import load_run  # noqa: E402
from codemix_search.storage.folder import Folder  # noqa: E402

CATEGORIES = ("nl_reasoning", "world_knowledge", "code", "generative")
FAMILIES = {"bpb": "/bpb", "acc": "", "brier": "/brier"}


def table(small: list[TrialRecord], large: list[TrialRecord]) -> list[dict]:
    pairs = match(small, large)
    rows = []
    for category in CATEGORIES:
        for family, suffix in FAMILIES.items():
            key = f"category/{category}{suffix}"
            both = [
                (s.metrics[key], b.metrics[key])
                for s, b in pairs
                if key in s.metrics and key in b.metrics
            ]
            if len(both) < 3:
                continue
            a, b = [x for x, _ in both], [y for _, y in both]
            rows.append({"category": category, "family": family, **rank_correlations(a, b)})
    return rows


def records(uri: str) -> list[TrialRecord]:
    """A run folder's records, or a grid's committed points (benchmarks/grid_points.py)."""
    if uri.endswith("_points.jsonl"):
        from benchmarks.grid_points import as_records, read

        return as_records(read(uri)[1])
    return load_run(Folder(uri))


def fmt(value, ci, sign: str = "+") -> str:
    if value != value:  # NaN: constant values at one scale (e.g. pass@1 all 0)
        return "n/a (constant)"
    return f"{value:{sign}.2f}" + (f" [{ci[0]:{sign}.2f}, {ci[1]:{sign}.2f}]" if ci else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", default="runs/bench-grid-tiny")
    ap.add_argument("--large", default="runs/bench-grid")
    ap.add_argument("--out", default="docs/decision_accuracy")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the committed grid points; --out to a temp folder (CI)",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.small, args.large = "docs/bench_grid_tiny_points.jsonl", "docs/bench_grid_points.jsonl"
        args.out = os.path.join(tempfile.mkdtemp(prefix="cm-decision-"), "decision_accuracy")
    small, large = records(args.small), records(args.large)
    rows = table(small, large)
    n = len(match(small, large))
    lines = [
        "# Decision accuracy across scales\n",
        f"Made by `python benchmarks/decision_accuracy.py --small {args.small} --large "
        f"{args.large}`: {n} mixtures finished at both scales. 95% bootstrap intervals over "
        "mixtures (1,000 resamples). Anchors, like for like: DataDecide ~0.80 *pairwise "
        "decision accuracy* (150M -> 1B) for the accuracy column; Olmix's *Spearman* > 0.89 "
        "for proxies >= 15M (0.73 at 1M) for the Spearman column.\n",
        "| category | metric | pairwise decision accuracy | Spearman | Kendall |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ci = r.get("ci95") or {}
        lines.append(
            f"| {r['category']} | {r['family']} | "
            f"{fmt(r.get('decision_accuracy', float('nan')), ci.get('decision_accuracy'), '')} | "
            f"{fmt(r['spearman'], ci.get('spearman'))} | {fmt(r['kendall'], ci.get('kendall'))} |"
        )
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump({"small": args.small, "large": args.large, "matched": n, "rows": rows}, f,
                  indent=2)  # fmt: skip
    with open(args.out + ".md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
