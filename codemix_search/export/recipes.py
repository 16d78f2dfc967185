"""Ranking and export (no Ray): Pareto front of finished trials -> recipes + leaderboard.

Layout of ``<storage>/<name>/``:
  space.yaml            the resolved search space (after overrides)
  records.jsonl         one line per trial: status, config, mixture, objectives, metrics
  leaderboard.csv       every trial ranked (fronts, then a normalised score)
  recipes/<trial>.yaml  one per Pareto-optimal finished trial; recipes/_SUCCESS when all are written
  _SUCCESS              the run finished and everything above is complete
"""

from __future__ import annotations

import csv
import io
import json
import time

from codemix_search import __version__
from codemix_search.config.space import SearchSpace
from codemix_search.core.mixture import PHASES
from codemix_search.core.ranking import pareto_front, rank_order
from codemix_search.core.records import RecordError, TrialRecord
from codemix_search.errors import ConfigError, OneLineParser
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout, TrialLayout

RECIPE_VERSION = 1


def front_of(records: list[dict], space: SearchSpace) -> list[dict]:
    """Non-dominated records among the finished ones (pruned/diverged/error never enter; a
    trial that reused a twin's result is that twin, so only the trained one gets a recipe)."""
    finished = [
        r
        for r in records
        if r["status"] == "finished" and not (r.get("metrics") or {}).get("reused_from")
    ]
    values = [[r["objectives"][n] for n in space.metric_names] for r in finished]
    return [finished[i] for i in pareto_front(values, space.modes)]


def ranked(records: list[dict], space: SearchSpace) -> list[dict]:
    finished = [r for r in records if r["status"] == "finished"]
    others = [r for r in records if r["status"] != "finished"]
    values = [[r["objectives"][n] for n in space.metric_names] for r in finished]
    front_ids = {r["trial_id"] for r in front_of(records, space)}
    out = []
    for rank, i in enumerate(rank_order(values, space.modes), start=1):
        out.append({**finished[i], "rank": rank, "pareto": finished[i]["trial_id"] in front_ids})
    out.extend({**r, "rank": None, "pareto": False} for r in others)
    return out


def compare_with_baseline(records: list[dict], space: SearchSpace, run: Folder) -> dict[str, dict]:
    """``vs_baseline`` of every finished record (trial id -> it): relative change of each
    category score (the paper's +8.2% format) and the judged generative win-rate against the
    baseline trial. Empty when no baseline trial finished."""
    from codemix_search.evaluate.judge import JudgeError, make_judge, win_rate
    from codemix_search.evaluate.registry import suite_for

    finished = [r for r in records if r["status"] == "finished"]
    base = next((r for r in finished if r["metrics"].get("baseline") == 1), None)
    if base is None:
        return {}
    judged = [t.name for t in suite_for(space.evaluation).tasks if t.generations]
    judge = make_judge(space.evaluation)

    def generations(record: dict) -> dict:
        try:
            trial = RunLayout(run).trial(record["trial_id"])
            return trial.folder.read_json(TrialLayout.GENERATIONS)
        except FileNotFoundError:
            return {}

    base_gens = generations(base)
    out = {}
    for r in finished:
        relative = {}
        for key, value in r["metrics"].items():
            if key.startswith("category/") and key in base["metrics"]:
                b = base["metrics"][key]
                relative[key.split("/", 1)[1]] = (value - b) / abs(b) if b else None
        judged_out = {}
        if r is not base:
            gens = generations(r)
            for task in judged:
                try:
                    judged_out[task] = win_rate(judge, gens.get(task, []), base_gens.get(task, []))
                except JudgeError as e:
                    judged_out[task] = {"error": str(e)}
        out[r["trial_id"]] = {
            "baseline": base["trial_id"],
            "relative": relative,
            "win_rate": judged_out,
        }
    return out


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:+.1f}%"


def _win(record: dict) -> str:
    wr = (record.get("vs_baseline") or {}).get("win_rate") or {}
    vals = [v["win_rate"] for v in wr.values() if "win_rate" in v]
    if vals:
        return f"{sum(vals) / len(vals):.2f}"
    return "err" if wr else ""


def recipe(record: dict, space: SearchSpace, run_name: str, data_info: dict) -> dict:
    t = space.training_for(record["config"])
    return {
        "recipe_version": RECIPE_VERSION,
        "generated_by": f"codemix_search {__version__}: Pareto-optimal trial of run {run_name!r}",
        "trial_id": record["trial_id"],
        "mixture_id": record["mixture_id"],
        "phases": {
            phase: {
                "token_share": round(
                    1 - t.cooldown_share if phase == "pretrain" else t.cooldown_share, 6
                ),
                "weights": {s: round(w, 6) for s, w in sorted(record["mixture"][phase].items())},
            }
            for phase in PHASES
        },
        "shares": record["mixture"]["shares"],
        "objectives": record["objectives"],
        "vs_baseline": record.get("vs_baseline"),
        "cost": record.get("cost"),
        "objective_modes": dict(zip(space.metric_names, space.modes, strict=True)),
        "training": {
            "model": t.model,
            "tokens": t.tokens,
            "lr": t.lr,
            "batch_size": t.batch_size,
            "seq_len": t.seq_len,
            "cooldown_share": t.cooldown_share,
            "warmup_share": t.warmup_share,
            "weight_decay": t.weight_decay,
            # Where continued pretraining started: the paper's bases (text/balanced/code) or a
            # user's checkpoint; a recipe without it is not reproducible.
            "init": t.init,
        },
        "seed": space.seed,
        "provenance": {
            "space_file": space.source_file,
            "sampler": space.sampler,
            "data": data_info,
            "trial_seed": (record.get("metrics") or {}).get("seed"),
            "checkpoint_uri": (record.get("metrics") or {}).get("checkpoint_uri"),
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }


def leaderboard_csv(rows: list[dict], space: SearchSpace) -> str:
    sources = sorted({s for r in rows if r.get("mixture") for s in r["mixture"]["pretrain"]})
    cats = sorted({c for r in rows for c in ((r.get("vs_baseline") or {}).get("relative") or {})})
    header = ["rank", "pareto", "trial_id", "status", *space.metric_names, "val_loss", "tokens"]
    header += [f"vs_baseline/{c}" for c in cats] + ["win_rate_vs_baseline"]
    header += [f"{p}/{s}" for p in PHASES for s in sources]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        m = r.get("metrics", {})
        row = [
            r["rank"] if r["rank"] is not None else "",
            int(r["pareto"]),
            r["trial_id"],
            r["status"],
        ]
        row += [_fmt(r["objectives"].get(n)) for n in space.metric_names]
        row += [_fmt(m.get("val_loss")), m.get("tokens", "")]
        rel = (r.get("vs_baseline") or {}).get("relative") or {}
        row += [_pct(rel.get(c)) for c in cats] + [_win(r)]
        row += [_fmt((r.get("mixture") or {}).get(p, {}).get(s)) for p in PHASES for s in sources]
        w.writerow(row)
    return buf.getvalue()


def code_shares(record: dict, space: SearchSpace) -> tuple[float, float, float, float]:
    """(code share, synthetic and commit shares of the code part, cooldown code share) read
    from the mixture itself, so both parametrisations print the paper's four numbers."""
    groups = {s.name: s.group for s in space.catalog}
    mix = record.get("mixture") or {}

    def part(phase: str, which: set[str]) -> float:
        return sum(w for s, w in (mix.get(phase) or {}).items() if groups.get(s) in which)

    code_groups = {"web_code", "synthetic_code", "commits"}
    code = part("pretrain", code_groups)
    syn = part("pretrain", {"synthetic_code"}) / code if code else 0.0
    com = part("pretrain", {"commits"}) / code if code else 0.0
    return code, syn, com, part("cooldown", code_groups)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def table(rows: list[dict], space: SearchSpace) -> str:
    """The ranked table printed at the end of a run."""
    cols = [
        "rank",
        "front",
        "trial",
        "status",
        "code",
        "syn",
        "commit",
        "cd_code",
        *space.metric_names,
        "val_loss",
        "vs_baseline",
        "win",
    ]
    lines = []
    for r in rows:
        shares = code_shares(r, space)
        lines.append(
            [
                str(r["rank"] or "-"),
                "*" if r["pareto"] else "",
                r["trial_id"],
                r["status"],
                *(f"{v:.2f}" for v in shares),
                *(_fmt(r["objectives"].get(n)) or "-" for n in space.metric_names),
                _fmt(r.get("metrics", {}).get("val_loss")) or "-",
                " ".join(
                    f"{c[:4]} {_pct(v)}"
                    for c, v in sorted(((r.get("vs_baseline") or {}).get("relative") or {}).items())
                    if v is not None
                )
                or ("baseline" if r.get("metrics", {}).get("baseline") == 1 else "-"),
                _win(r) or "-",
            ]
        )
    widths = [
        max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(cols)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [
            fmt.format(*cols),
            fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*x) for x in lines),
        ]
    )


def git_commit() -> str | None:
    """This checkout's commit (None where there is no git, e.g. a job's uploaded working dir)."""
    import os
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "HEAD"],
            capture_output=True,
            timeout=10,
            check=True,
        )
        return out.stdout.decode().strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def export_run(
    records: list[TrialRecord],
    space: SearchSpace,
    run: Folder,
    run_name: str,
    data_info: dict,
    paths: dict | None = None,
) -> list[str]:
    """Write records, leaderboard, the report, and per Pareto-optimal trial a recipe plus its
    Megatron / MosaicML / OLMo-core exports (``paths``: source -> the trainer's copy; default
    each source's declared URI). Returns recipe URIs; ``recipes/_SUCCESS`` is written last."""
    from codemix_search.core.ledger import run_totals, trial_cost
    from codemix_search.export.formats import EXPORTERS
    from codemix_search.export.report import write_report

    layout = RunLayout(run)
    vs_baseline = compare_with_baseline([r.to_dict() for r in records], space, run)
    records = [  # the cost ledger: tokens, FLOPs, device-seconds, what stopping saved
        r.with_export(
            cost=trial_cost(r.to_dict(), space, space.data.vocab_size),
            vs_baseline=vs_baseline.get(r.trial_id),
        )
        for r in records
    ]
    rows_in = [r.to_dict() for r in records]
    run.write_json(
        RunLayout.LEDGER,
        {
            "totals": run_totals([r.cost for r in records]),
            "trials": {r.trial_id: r.cost for r in records},
        },
    )
    rows = ranked(rows_in, space)
    run.write_text(
        RunLayout.RECORDS,
        "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in rows_in),
    )
    run.write_text(RunLayout.LEADERBOARD, leaderboard_csv(rows, space))
    write_report(rows, space, run)
    recipes = layout.recipes
    uris = []
    paths = paths or data_info.get("paths") or {}
    for r in front_of(rows_in, space):
        rec = recipe(r, space, run_name, data_info)
        uris.append(recipes.write_yaml(f"{r['trial_id']}.yaml", rec))
        for fmt, fn in EXPORTERS.items():
            full = {s: paths.get(s, s) for s in rec["phases"]["pretrain"]["weights"]}
            recipes.write_json(f"{r['trial_id']}.{fmt}.json", fn(rec, full))
    recipes.mark_success({"recipes": len(uris)})
    return uris


def load_run(
    run: Folder, need: tuple[str, ...] = (RunLayout.SPACE, RunLayout.RECORDS)
) -> list[TrialRecord]:
    """A run folder's records (one per trial); one-line error when it is not a run folder or its
    records are of another schema version."""
    for name in need:
        if not run.exists(name):
            raise ConfigError(run.file(name), "", "missing: is this a codemix_search run folder?")
    out = []
    for i, line in enumerate(run.read_text(RunLayout.RECORDS).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{run.file(RunLayout.RECORDS)}:{i}"
        try:
            out.append(TrialRecord.from_dict(json.loads(line), where))
        except json.JSONDecodeError:
            raise ConfigError(where, "", "not JSON: the file is damaged; rerun the export") from None
        except RecordError as e:
            raise ConfigError(where, "", str(e).split(": ", 1)[1]) from None
    return out


def main(argv: list[str] | None = None) -> int:
    """``codemix_search export RUN_URI [--paths paths.yaml]``: rewrite a finished (or
    interrupted) run's leaderboard, report, recipes and trainer exports from its records."""

    import yaml

    from codemix_search.config.load import parse_space

    ap = OneLineParser(prog="codemix_search export", description=main.__doc__)
    ap.add_argument("run", help="the run folder (fsspec URI): <storage>/<name>")
    ap.add_argument("--paths", help="YAML mapping source -> the trainer's copy of it")
    args = ap.parse_args(argv)
    run = Folder(args.run)
    records = load_run(run, need=(RunLayout.SPACE, RunLayout.RECORDS, RunLayout.RUN))
    space = parse_space(run.read_yaml(RunLayout.SPACE), run.file(RunLayout.SPACE))
    info = run.read_json(RunLayout.RUN)
    paths = None
    if args.paths:
        with open(args.paths) as f:
            paths = yaml.safe_load(f)
        if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
            raise ConfigError(args.paths, "", "a mapping of source name -> path or URI")
    uris = export_run(records, space, run, info["name"], info["data"], paths)
    print(table(ranked([r.to_dict() for r in records], space), space))
    print(
        f"\n{len(uris)} recipes in {run.child('recipes').uri}; report in {run.child('report').uri}"
    )
    return 0
