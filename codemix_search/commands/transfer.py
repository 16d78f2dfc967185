"""``codemix_search transfer SMALL [LARGE] [--space-for MODEL]``: do mixtures rank the same at
two model sizes (analysis/transfer.py has the steps and the statistics)."""

from __future__ import annotations

import json

import yaml

from codemix_search.analysis.transfer import compare, read_run, space_for
from codemix_search.errors import ConfigError, OneLineParser


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="codemix_search transfer", description=__doc__.splitlines()[0])
    ap.add_argument("small", help="the small-scale run folder (fsspec URI)")
    ap.add_argument("large", nargs="?", help="the large-scale run folder")
    ap.add_argument("--space-for", metavar="MODEL", help="print a space replaying SMALL at MODEL")
    args = ap.parse_args(argv)
    small, space = read_run(args.small)
    if args.space_for:
        print(yaml.safe_dump(space_for(small, space, args.space_for), sort_keys=False))
        return 0
    if not args.large:
        raise ConfigError("large", "", "give the large-scale run (or --space-for MODEL)")
    large, _ = read_run(args.large)
    objectives = {o["name"]: o["mode"] for o in space["objectives"]}
    out = compare(small, large, objectives)
    print(f"{out['matched']} mixtures finished at both scales")
    for name, c in out["objectives"].items():
        ci = c.get("ci95") or {}

        def interval(key, ci=ci):
            return "" if not ci.get(key) else f" [{ci[key][0]:+.2f}, {ci[key][1]:+.2f}]"

        print(
            f"  {name:18s} spearman {c['spearman']:+.3f}{interval('spearman')} "
            f"(p {c['spearman_p']:.3g})  kendall {c['kendall']:+.3f}{interval('kendall')}  "
            f"decision accuracy {c.get('decision_accuracy', float('nan')):.2f}"
            f"{interval('decision_accuracy')}"
        )
    if out["front"]:
        print(f"  small Pareto set on the large front: {out['front']['survived']:.0%}")
    print(json.dumps(out, default=str))
    return 0
