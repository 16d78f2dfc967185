"""``codemix_search run`` (also ``python codemix_search/run.py``): run a mixture search.

Embedded (laptop, CPU): starts a local Ray on loopback, builds the demo data once (cached), runs
the trials and writes recipes under ``--storage`` (default ./runs). On a cluster:

    ray job submit --working-dir . -- python codemix_search/run.py --space search_spaces/demo.yaml

Tiny run used by the tests (a few minutes on 2 cores):

    python codemix_search/run.py --space search_spaces/tiny.yaml --storage /tmp/cm-runs
    python codemix_search/run.py --space search_spaces/tiny.yaml --dry-run budget.samples=8

A run whose driver died (killed, node lost) continues where it stopped; finished trials are kept:

    python codemix_search/run.py --resume --name try1 --storage /tmp/cm-runs
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import random

import yaml

from codemix_search.analysis.budget import cost_plan, plan_table
from codemix_search.cluster import check_address
from codemix_search.errors import ConfigError, OneLineParser
from codemix_search.pipeline import check_request, execute
from codemix_search.swarm_search import PROPOSALS, execute_swarm


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = OneLineParser(prog="codemix_search run", description=__doc__.splitlines()[0])
    ap.add_argument("--space", help="search space YAML (search_spaces/*.yaml)")
    ap.add_argument(
        "--storage",
        default=os.path.abspath("runs"),
        help="fsspec URI for runs (local path, s3://...)",
    )
    ap.add_argument("--name", default=None, help="run name (default: <space>-<UTC time>)")
    ap.add_argument(
        "--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or embedded)"
    )
    ap.add_argument(
        "--dry-run", action="store_true", help="print the space and sampled mixtures; start nothing"
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue the unfinished run --name from its storage (its own space.yaml)",
    )
    ap.add_argument(
        "--allow-new-data",
        action="store_true",
        help="with --resume: continue even if the dataset comes out under another key",
    )
    ap.add_argument(
        "--verbose", action="store_true", help="Tune's status tables too (default: one line)"
    )
    ap.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. budget.samples=8")
    return ap.parse_args(argv)


def dry_run(space, n: int = 3) -> None:

    print(
        yaml.safe_dump(
            {"space": space.to_dict()}, sort_keys=False, default_flow_style=None
        ).rstrip()
    )
    rng = random.Random(space.seed)
    for i in range(n):
        cfg = space.sample(rng)
        m = space.mixture(cfg)
        print(
            f"\nsample {i}: {m.id}  "
            + ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in cfg.items()
            )
        )
        for phase in ("pretrain", "cooldown"):
            print(
                f"  {phase:8s} "
                + "  ".join(f"{s}={w:.3f}" for s, w in sorted(m.phase(phase).items()))
            )

    try:  # what it would cost (codemix_search plan has the GPU and price options)
        print("\n" + plan_table(cost_plan(space), space))
    except ConfigError as e:
        print(f"\nplan: {e.one_line()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    req = check_request(
        args.space, args.overrides, args.storage, args.name, args.resume,
        allow_new_data=args.allow_new_data,
    )  # fmt: skip
    req = dataclasses.replace(req, verbose=args.verbose)
    if args.address:  # before anything is written: one line, not a minute of GCS warnings
        check_address(args.address)
    if args.dry_run:
        dry_run(req.space)
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:  # Ray Data logs each step of the data build at INFO (its own config)
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
        # Tune's TensorBoard logger renames `pass@1` at INFO for every trial: nothing to act on
        logging.getLogger("tensorboardX").setLevel(logging.WARNING)
        # Tune warns past 0.5 s of driver work per result; on a 2-core laptop that is every
        # result while two trials train: 5 s still flags a real stall
        os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "5")
    if req.space.search.strategy == "swarm" or (req.resume and req.run.exists(PROPOSALS)):
        return execute_swarm(req, args.address)
    return execute(req, args.address)
