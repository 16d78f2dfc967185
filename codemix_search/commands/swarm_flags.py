"""The flags every swarm command shares (where the runs come from, which metric, which sizes)."""

from __future__ import annotations

from codemix_search.analysis.swarm import parse_objective
from codemix_search.analysis.swarm_readers import SwarmSpec, read
from codemix_search.errors import ConfigError, OneLineParser, number


def add_swarm_flags(ap: OneLineParser) -> None:
    ap.add_argument(
        "tables",
        nargs="+",
        help="run folders of ours, RegMix-style folders (<split>_mixture_<size>.csv pairs), a "
        "metrics CSV with --mixtures, or prefixed tables (CSV, JSONL, parquet)",
    )
    ap.add_argument("--mixtures", help="RegMix layout: the mixtures CSV joined on `index`")
    ap.add_argument("--weight-columns", metavar="PREFIX", help="weight columns start with this")
    ap.add_argument("--metric-columns", metavar="PREFIX", help="metric columns start with this")
    ap.add_argument("--size-column", metavar="COL", help="the model size of each run")
    ap.add_argument("--size", help="label the runs' size where the table has none (e.g. 1m)")


def swarm_from(args):
    return read(
        SwarmSpec(
            tables=tuple(args.tables),
            mixtures=args.mixtures,
            weight_columns=args.weight_columns,
            metric_columns=args.metric_columns,
            size_column=args.size_column,
            size=args.size,
        )
    )


def add_fit_flags(ap: OneLineParser) -> None:
    ap.add_argument("--objective", required=True, metavar="COLUMN[:min|max]")
    ap.add_argument("--fit-size", help="fit on the runs of this size (default: the only one)")
    ap.add_argument("--regressor", default="auto", choices=("auto", "lightgbm", "gp", "loglinear"))
    ap.add_argument(
        "--n", type=number(int, 1), help="fit on a seeded random N of the fit-size runs"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")


def objective_from(args) -> tuple[str, str]:
    return parse_objective(args.objective)


def check_seed(seed: int) -> None:
    if not 0 <= seed < 2**32:
        raise ConfigError("--seed", "", f"{seed}: an integer in 0..{2**32 - 1}")
