"""Run a mixture search: ``python codemix_search/run.py --space search_spaces/demo.yaml``.

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

import os
import sys

if __package__ in (None, ""):
    # Run as a script, Python puts codemix_search/ itself first on sys.path, where our
    # subpackages (evaluate/, data/) would shadow real top-level packages (HF `evaluate`).
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

from codemix_search.errors import ConfigError, OneLineParser  # noqa: E402


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
    ap.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. budget.samples=8")
    return ap.parse_args(argv)


def dry_run(space, n: int = 3) -> None:
    import yaml

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


def check_name(name: str) -> None:
    """A run name is one folder: letters, digits, '-', '_', '.', never '..' or a path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or ".." in name:
        raise ConfigError("--name", "", f"{name!r}: use letters, digits, '-', '_' or '.'")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from codemix_search.space import load_space
    from codemix_search.storage import Folder, check_uri

    try:
        check_uri(args.storage, "--storage")
        storage = Folder(args.storage)
        if args.name is not None:
            check_name(args.name)
        if args.resume:
            if not args.name:
                raise ConfigError("--resume", "", "give the --name of the run to continue")
            run = storage.child(args.name)
            if not run.exists("space.yaml"):
                raise ConfigError(run.file("space.yaml"), "", "missing: no such run to resume")
            # The run's own resolved space (overrides included), not whatever --space says now.
            space = load_space(run.file("space.yaml"))
        elif not args.space:
            raise ConfigError("--space", "", "required (or --resume --name RUN)")
        else:
            space = load_space(args.space, args.overrides)
        if args.dry_run:
            dry_run(space)
            return 0
        name = args.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        check_name(name)
        run = storage.child(name)
        if run.is_complete():
            raise ConfigError("--name", "", f"run {run.uri} already finished; pick another --name")
        if run.exists("space.yaml") and not args.resume:
            raise ConfigError(
                "--name", "", f"run {run.uri} exists; add --resume to continue it, or pick another"
            )
    except ConfigError as e:
        print(f"error: {e.one_line()}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return execute(space, storage, run, name, args.address, args.resume)
    except ConfigError as e:  # bad sources or data found while building: one line, no traceback
        print(f"error: {e.one_line()}", file=sys.stderr)
        return 2


def execute(space, storage, run, name: str, address: str | None, resume: bool = False) -> int:
    import ray

    from codemix_search import export, search
    from codemix_search.bases import ensure_bases
    from codemix_search.data.build import prepare_space_data
    from codemix_search.exporters import default_paths

    t0 = time.time()
    started = search.start_ray(address, space.budget.concurrency)
    try:
        # With Ray up, the data build (a no-op when the dataset exists) runs on Ray Data.
        data = prepare_space_data(space, storage)
        if space.evaluation.suite == "demo" and not data.manifest.get("eval"):
            raise ConfigError(
                space.source_file,
                "evaluation.suite",
                "the demo suite needs the demo data's eval items (sources.yaml eval_items)",
            )
        run.write_yaml("space.yaml", space.to_dict())
        data_info = {
            "uri": data.uri,
            "tokenizer_sha256": data.manifest["tokenizer_sha256"],
            "key": data.manifest["key"],
            "paths": default_paths(data.manifest),
        }
        run.write_json("run.json", {"name": name, "data": data_info})
        plan = search.plan_for(space)
        inits = ensure_bases(space, data, storage, plan)  # trained once, then cached
        print(
            f"codemix_search: run {run.uri}: {space.budget.samples} trials, {plan.concurrency} at a time, driver {plan.driver}, {plan.workers} x worker {plan.worker}"
        )
        records = search.search(space, data, run, plan, inits, resume=resume)
    finally:
        if started:
            ray.shutdown()
    uris = export.export_run(records, space, run, name, data_info)
    counts = {
        s: sum(r["status"] == s for r in records)
        for s in ("finished", "pruned", "diverged", "error")
    }
    run.mark_success(
        {
            "records": len(records),
            **counts,
            "recipes": len(uris),
            "wall_seconds": round(time.time() - t0, 1),
        }
    )
    from codemix_search.ledger import line, run_totals

    print()
    print(export.table(export.ranked(records, space), space))
    print(line(run_totals([r["cost"] for r in records if r.get("cost")])))
    print(
        f"\n{counts['finished']} finished, {counts['pruned']} pruned, {counts['diverged']} diverged, {counts['error']} errors; "
        f"{len(uris)} recipes in {run.child('recipes').uri} ({time.time() - t0:.0f} s)"
    )
    return 0 if counts["finished"] or counts["pruned"] else 1


if __name__ == "__main__":
    sys.exit(main())
