"""``codemix_search plan --space S [--gpus N] [--gpu-type NAME] [--price-per-hour X] [--json]``:
what a search will cost before it runs (analysis/budget.py; the model in core/costs.py).

    python -m codemix_search plan --space search_spaces/demo.yaml
    python -m codemix_search plan --space search_spaces/proxy_ladder.yaml --gpus 8 --gpu-type H100 --price-per-hour 2.5 --json
    python -m codemix_search plan --space search_spaces/demo.yaml --from-run runs/demo1   # learn from a run
"""

from __future__ import annotations

from codemix_search.analysis.budget import cost_plan, learn, plan_table
from codemix_search.config.load import load_space
from codemix_search.core import costs
from codemix_search.core.strict_json import strict_json
from codemix_search.errors import OneLineParser, number


def parse_args(argv):
    ap = OneLineParser(prog="codemix_search plan", description=__doc__.splitlines()[0])
    ap.add_argument("--space", required=True, help="search space YAML")
    ap.add_argument(
        "--gpus", type=number(int, 0, 1_000_000), default=0, help="GPUs the cluster has for trials"
    )
    ap.add_argument("--gpu-type", default=None, help=f"one of {', '.join(costs.DEVICES)}")
    ap.add_argument(
        "--price-per-hour", type=number(float, 0), default=None, help="per device (GPU or CPU)"
    )
    ap.add_argument("--from-run", default=None, help="learn throughput from a finished run")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    ap.add_argument("overrides", nargs="*", help="dotlist overrides of the space")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:

    args = parse_args(argv)
    space = load_space(args.space, args.overrides)
    device = args.gpu_type or "cpu"
    row = learn(args.from_run, space.training.model, device) if args.from_run else None
    p = cost_plan(space, args.gpus, args.gpu_type, args.price_per_hour, row)
    print(strict_json(p.to_dict(), indent=1) if args.json else plan_table(p, space))
    return 0
