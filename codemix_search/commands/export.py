"""``codemix_search export RUN``: a finished (or interrupted) run's leaderboard, report and
recipes, rewritten from its records.

``--format megatron|olmo_core|mosaic [--out DIR] [--seq-len N]``: the data and per-trial
configs that trainer runs as they are (export/trainer_data.py). ``--tokenizer T``: in the
target tokenizer's units, the data re-tokenized with it. ``--target-tokens 300B
[--cooldown-share S] [--available FILE] [--max-epochs 4] [--rebalance]``: per phase and source
the tokens needed at the target budget, the tokens available and the epochs that implies; a
recipe needing more than ``--max-epochs`` is refused (or rebalanced). Without ``--format`` these
print (``--json``: strict JSON) and write nothing.
"""

from __future__ import annotations

import dataclasses

from codemix_search.config.load import parse_space, read_user_yaml
from codemix_search.core.strict_json import strict_json
from codemix_search.errors import ConfigError, OneLineParser, number
from codemix_search.evaluate.tasks import relocate_tasks
from codemix_search.export import recipes as export
from codemix_search.export.measure_units import load_target_tokenizer
from codemix_search.export.tables import ranked, trials_table
from codemix_search.export.target import TargetRequest, parse_available, plan_target
from codemix_search.export.trainer_data import export_for_trainer, run_recipes_and_data
from codemix_search.export.units import UnitsError, parse_count
from codemix_search.preflight import check_storage
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def parser() -> OneLineParser:
    ap = OneLineParser(prog="codemix_search export", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="the run folder (fsspec URI): <storage>/<name>")
    ap.add_argument(
        "--paths",
        help="YAML mapping source -> the team's copy of it in the trainer's format: also writes "
        "recipes/<trial>.<trainer>.json blends over those paths",
    )
    ap.add_argument(
        "--format",
        choices=("megatron", "olmo_core", "mosaic"),
        help="write the recipes' data and configs for this trainer (into --out)",
    )
    ap.add_argument("--out", help="where --format writes (default <run>/exports/<format>)")
    ap.add_argument(
        "--seq-len", type=number(int, 1), help="the trainer's sequence length (default: proxy's)"
    )
    ap.add_argument(
        "--tokenizer",
        help="the target run's tokenizer (a transformers folder or a name in the local cache): "
        "weights, tokens and exported data in its units",
    )
    ap.add_argument("--target-tokens", help="the target run's token budget, e.g. 300B")
    ap.add_argument("--cooldown-share", type=float, help="the cooldown's share of it")
    ap.add_argument(
        "--available",
        help="YAML {source: tokens (e.g. 250B) | {bytes: N}}: each source's real size",
    )
    ap.add_argument("--max-epochs", type=float, help="repetition cap per source (default 4)")
    ap.add_argument(
        "--rebalance",
        action="store_true",
        help="move what a capped source cannot supply to the phase's other sources",
    )
    ap.add_argument("--json", action="store_true", help="units and budget as strict JSON")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run = Folder(args.run)
    target = _target_request(args)
    if args.format:
        if args.seq_len is not None and args.seq_len < 1:
            raise ConfigError("--seq-len", "", f"{args.seq_len}: a positive token count")
        export.load_run(run, need=(RunLayout.SPACE, RunLayout.RECORDS, RunLayout.RUN))
        out = Folder(args.out) if args.out else None
        if out is not None:  # before the work, not after it (as data verify's --out)
            check_storage(out, flag="--out", for_ray=False)
        done = export_for_trainer(run, args.format, out, args.seq_len, target)
        units = f" in {target.tokenizer.name} tokens" if target.tokenizer else ""
        print(
            f"{args.format}: {len(done['trials'])} recipe(s){units}, sources "
            f"{', '.join(done['sources'])}, seq_len {done['seq_len']} -> {done['out']}"
        )
        return 0
    if target.tokenizer or target.target_tokens is not None:
        return _print_target(run, target, args.json)
    if args.json:
        raise ConfigError("--json", "", "goes with --tokenizer or --target-tokens (it prints "
                          "the units and the budget); without them export writes the run")  # fmt: skip
    return _rewrite(run, args.paths)


def _target_request(args):

    try:
        tokens = parse_count(args.target_tokens) if args.target_tokens is not None else None
    except UnitsError as e:
        raise ConfigError("--target-tokens", "", str(e).split(": ", 1)[-1]) from None
    available = None
    if args.available:
        raw = read_user_yaml(args.available, "give a YAML file of sizes (code: 250B)")
        available = parse_available(raw, args.available)
    request = TargetRequest(  # flags checked together before a tokenizer is loaded
        None, tokens, args.cooldown_share, available, args.available or "--available",
        args.max_epochs, args.rebalance,
    )  # fmt: skip
    if args.tokenizer:
        request = dataclasses.replace(request, tokenizer=load_target_tokenizer(args.tokenizer))
    return request


def _print_target(run: Folder, target, as_json: bool) -> int:

    export.load_run(run, need=(RunLayout.SPACE, RunLayout.RECORDS, RunLayout.RUN))
    recipes, data, manifest = run_recipes_and_data(run)
    plan = plan_target(recipes, data.uri, manifest, target)
    if as_json:
        print(strict_json({"recipes": plan.blocks}, sort_keys=True, indent=1))
        return 0
    name = target.tokenizer.name if target.tokenizer else None
    print("bytes per token (UTF-8 bytes / tokens incl. end-of-text; sample, SE):")
    print(f"  {'source':<16} {'proxy':>16}" + (f" {name:>22}" if name else ""))
    for s, units in sorted(plan.per_token.items()):
        cells = [f"{u.mean:.3f} ± {u.se:.3f} (n={u.documents})" for u in units.values()]
        print(f"  {s:<16} " + " ".join(f"{c:>22}" for c in cells))
    for view in plan.views:
        block = plan.blocks[view["trial_id"]]
        print(f"\nrecipe {view['trial_id']}: {block['units']['weights_are']}")
        head = f"  {'phase':<9} {'source':<16} {'proxy tok':>9} {'bytes':>7}"
        head += f" {'target tok':>10}" if name else ""
        head += f" {'final':>7}" if block["budget"] else ""
        print(head)
        for phase, weights in block["units"]["proxy_token_weights"].items():
            for s, w in weights.items():
                row = f"  {phase:<9} {s:<16} {w:>9.4f} {block['units']['byte_weights'][phase][s]:>7.4f}"
                if name:
                    row += f" {block['units']['target_token_weights'][phase][s]:>10.4f}"
                if block["budget"]:
                    row += f" {view['phases'][phase]['weights'][s]:>7.4f}"
                print(row)
        if block["budget"]:
            b = block["budget"]
            print(
                f"  at {b['target_tokens']:.4g} {b['units']} "
                f"(pretrain {b['phase_tokens']['pretrain']:.4g}, cooldown "
                f"{b['phase_tokens']['cooldown']:.4g}), cap {b['max_epochs']:g} epochs:"
            )
            for s, row in b["sources"].items():
                print(
                    f"    {s:<16} needs {sum(row['needed'].values()):.4g} of "
                    f"{row['available']:.4g} ({row['available_from']}): {row['epochs']:.3g} epochs"
                )
            if b["rebalanced"]:
                print(f"    rebalanced (weight moved per phase): {b['rebalanced']}")
    return 0


def _rewrite(run: Folder, paths_file: str | None) -> int:

    records = export.load_run(run, need=(RunLayout.SPACE, RunLayout.RECORDS, RunLayout.RUN))
    space = parse_space(run.read_yaml(RunLayout.SPACE), run.file(RunLayout.SPACE))
    info = run.read_json(RunLayout.RUN)
    paths = None
    if paths_file:
        paths = read_user_yaml(paths_file, "give a YAML mapping source -> path")
        if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
            raise ConfigError(paths_file, "", "a mapping of source name -> path or URI")
    uris = export.export_run(records, space, run, info["name"], info["data"], paths)
    if relocate_tasks(RunLayout(run).tasks):  # the run folder was copied or moved
        print(f"task files now point at {RunLayout(run).tasks.uri}")
    records = export.load_run(run)  # as exported: with the cost ledger and the baseline comparison
    print(trials_table(ranked(records, space), space))
    print(
        f"\n{len(uris)} recipes in {run.child('recipes').uri}; report in {run.child('report').uri}"
    )
    return 0
