"""``codemix_search replay RECIPE``: retrain a recipe's trial and check it reproduces its curve
(analysis/replay.py). Exit 0 when every report matches within ``--tolerance``, 1 otherwise."""

from __future__ import annotations

from codemix_search.analysis.replay import replay
from codemix_search.errors import OneLineParser, number


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="codemix_search replay", description=__doc__.splitlines()[0])
    ap.add_argument("recipe", help="a recipe file (fsspec URI) inside a run's recipes/ folder")
    ap.add_argument("--tolerance", type=number(float, 0, open_low=True), default=1e-6)
    args = ap.parse_args(argv)
    out = replay(args.recipe, args.tolerance)
    for r in out["steps"]:
        print(
            f"step {r['step']:6d}  recorded {r['recorded']:.6f}  replayed {r['replayed']:.6f}  diff {r['diff']:.2e}"
        )
    print(f"trial {out['trial_id']}: {'reproduced' if out['reproduced'] else 'NOT reproduced'}")
    return 0 if out["reproduced"] else 1
