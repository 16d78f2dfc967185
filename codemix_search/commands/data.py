"""``codemix_search data ...``: the data plane on its own (data/ has the steps).

    python -m codemix_search data demo --preset tiny              # offline demo sources -> path
    python -m codemix_search data build --sources sources.yaml --storage s3://bucket/runs
    python -m codemix_search data verify generated.jsonl --out verified/ --workers 8
    python -m codemix_search data check --dataset runs/_data/<key>

Every problem with the input is one line (``error: file: field: fix``) and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os

from codemix_search.cluster import start_ray
from codemix_search.config.sources import load_sources
from codemix_search.data.build import prepare_data
from codemix_search.data.dataset import materialize, read_manifest, verify_shards
from codemix_search.data.verify import verify_file
from codemix_search.demo.make_sources import build_demo
from codemix_search.errors import ConfigError, OneLineParser, number
from codemix_search.preflight import check_storage
from codemix_search.sandbox import SandboxLimits
from codemix_search.storage.folder import Folder


def _parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="codemix_search data", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="build the offline demo sources; print sources.yaml's path")
    d.add_argument("--preset", default="tiny", choices=("tiny", "demo"))
    d.add_argument("--vocab-size", type=number(int, 256, 1 << 20), default=2048)
    d.add_argument("--repo", action="append", help="git repository for commits (default .)")
    b = sub.add_parser("build", help="tokenize and pack sources into <storage>/_data/<key>")
    b.add_argument("--sources", required=True, help="sources YAML (fsspec URI)")
    b.add_argument("--storage", default=os.path.abspath("runs"), help="fsspec URI")
    b.add_argument("--label", default="data", help="dataset name prefix")
    b.add_argument("--engine", default="ray", choices=("ray", "local"))
    b.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    v = sub.add_parser("verify", help="keep generated code whose tests pass (sandboxed)")
    v.add_argument("input", help="jsonl of prompt/solution/tests records (fsspec URI)")
    v.add_argument("--out", required=True, help="folder for verified.jsonl + report.json")
    v.add_argument("--timeout-s", type=number(float, 0, 86_400, open_low=True), default=5.0)
    v.add_argument("--memory-mb", type=number(int, 32, 1 << 20), default=512)
    v.add_argument("--workers", type=number(int, 1, 1024), default=os.cpu_count() or 2)
    c = sub.add_parser("check", help="check a built dataset's shards against its manifest")
    c.add_argument("--dataset", required=True, help="<storage>/_data/<key> (fsspec URI)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)


def _demo(args) -> int:

    for repo in args.repo or []:  # the report would name a repository that gave nothing
        if not os.path.isdir(os.path.join(repo, ".git")) and not os.path.isfile(
            os.path.join(repo, "HEAD")
        ):
            raise ConfigError("--repo", "", f"{repo} is not a git repository; give a clone's path")
    path = build_demo(args.preset, args.vocab_size, tuple(args.repo or ["."]))
    with open(os.path.join(os.path.dirname(path), "report.json")) as f:
        report = json.load(f)
    for name, s in report["sources"].items():
        print(
            f"{name:15s} {s['kind']:15s} {s['documents']:6d} docs {s['chars']:10,d} chars  {s['origin']}"
        )
    print(f"synthetic code verification: {report['synthetic_verification']}")
    print(path)
    return 0


def _build(args) -> int:
    cfg = load_sources(args.sources)
    started = False
    if args.engine == "ray":
        started = start_ray(args.address, 1)
    try:
        ref = prepare_data(cfg, Folder(args.storage), args.label, args.engine)
    finally:
        if started:
            # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed
            # offline
            import ray

            ray.shutdown()
    for name, s in ref.manifest.sources.items():
        tr, va = s["splits"]["train"], s["splits"]["val"]
        print(
            f"{name:15s} {s['kind']:15s} train {tr['documents']:7d} docs {tr['tokens']:11,d} tok"
            f"  val {va['documents']:6d} docs  removed: {s['duplicates_removed']} duplicate,"
            f" {s['contaminated_removed']} contaminated"
        )
    print(ref.uri)
    return 0


def _verify(args) -> int:

    try:
        limits = SandboxLimits(timeout_s=args.timeout_s, memory_mb=args.memory_mb)
    except ValueError as e:
        raise ConfigError("--timeout-s/--memory-mb", "", str(e)) from None

    check_storage(Folder(args.out), flag="--out", for_ray=False)  # before hours of verifying
    report = verify_file(args.input, args.out, limits, args.workers)
    print(
        f"{report['records']} records: {report['passed']} passed, {report['failed']} failed, "
        f"{report['timeout']} timed out, {report['crashed']} crashed ({report['seconds']} s)"
    )
    print(args.out.rstrip("/") + "/verified.jsonl")
    return 0


def _check(args) -> int:

    folder = Folder(args.dataset)
    if not folder.is_complete():
        raise ConfigError(args.dataset, "_SUCCESS", "not a finished dataset; build it first")
    manifest = read_manifest(folder)
    local = materialize(args.dataset, manifest)  # remote: downloaded and checked
    verify_shards(local, manifest)
    print(
        f"ok: {len(manifest.sources)} sources, {manifest.tokens:,} tokens, shards match the "
        "manifest"
    )
    return 0


COMMANDS = {"demo": _demo, "build": _build, "verify": _verify, "check": _check}
