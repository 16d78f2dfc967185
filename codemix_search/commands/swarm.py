"""``codemix_search swarm``: read runs from anywhere (RegMix's files, a prefixed table, our run
folders), say what they hold, and with ``--out`` write them as one prefixed table that ``fit``
and ``propose`` read (``--weight-columns w: --metric-columns m: --size-column size``)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from codemix_search.analysis.swarm import to_frame
from codemix_search.commands.swarm_flags import add_swarm_flags, swarm_from
from codemix_search.core.strict_json import strict_json
from codemix_search.errors import ConfigError, OneLineParser
from codemix_search.storage.folder import Folder

FORMATS = (".csv", ".jsonl", ".parquet")


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="codemix_search swarm", description=__doc__.splitlines()[0])
    add_swarm_flags(ap)
    ap.add_argument("--out", help="write one table here (.csv, .jsonl or .parquet)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.out and not args.out.endswith(FORMATS):
        raise ConfigError("--out", "", f"{args.out!r}: end it in {', '.join(FORMATS)}")
    swarm = swarm_from(args)
    summary = {
        "runs": len(swarm),
        "sizes": {s: int(sum(x == s for x in swarm.sizes)) for s in swarm.size_labels},
        "blocks": {b.name: [swarm.columns[j] for j in b.columns] for b in swarm.blocks},
        "metrics": {k: int(np.isfinite(v).sum()) for k, v in swarm.metrics.items()},
    }
    if args.out:
        frame = to_frame(swarm)
        name = os.path.basename(args.out)
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, name)
            if name.endswith(".parquet"):
                frame.to_parquet(local, index=False)
            elif name.endswith(".jsonl"):
                frame.to_json(local, orient="records", lines=True)
            else:
                frame.to_csv(local, index=False)
            Folder(os.path.dirname(args.out) or ".").upload(local, name)  # atomic: temp + rename
        summary["out"] = args.out
    if args.json:
        print(strict_json(summary))
        return 0
    print(f"{summary['runs']} runs; by size: {summary['sizes']}")
    for b, cols in summary["blocks"].items():
        print(f"  weights {b}: {', '.join(cols)}")
    print(f"  metrics (runs measured): {summary['metrics']}")
    if args.out:
        print(f"written: {args.out}")
    return 0
