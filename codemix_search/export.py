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
from codemix_search.mixture import PHASES
from codemix_search.ranking import pareto_front, rank_order
from codemix_search.space import SearchSpace
from codemix_search.storage import Folder

RECIPE_VERSION = 1


def front_of(records: list[dict], space: SearchSpace) -> list[dict]:
    """Non-dominated records among the finished ones (pruned/diverged/error never enter)."""
    finished = [r for r in records if r["status"] == "finished"]
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
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }


def leaderboard_csv(rows: list[dict], space: SearchSpace) -> str:
    sources = sorted({s for r in rows if r.get("mixture") for s in r["mixture"]["pretrain"]})
    header = ["rank", "pareto", "trial_id", "status", *space.metric_names, "val_loss", "tokens"]
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
        row += [_fmt((r.get("mixture") or {}).get(p, {}).get(s)) for p in PHASES for s in sources]
        w.writerow(row)
    return buf.getvalue()


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
    ]
    lines = []
    for r in rows:
        c = r["config"]
        lines.append(
            [
                str(r["rank"] or "-"),
                "*" if r["pareto"] else "",
                r["trial_id"],
                r["status"],
                *(
                    f"{c.get(k, 0):.2f}"
                    for k in (
                        "code_fraction",
                        "synthetic_share",
                        "commit_share",
                        "cooldown_code_fraction",
                    )
                ),
                *(_fmt(r["objectives"].get(n)) or "-" for n in space.metric_names),
                _fmt(r.get("metrics", {}).get("val_loss")) or "-",
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


def export_run(
    records: list[dict], space: SearchSpace, run: Folder, run_name: str, data_info: dict
) -> list[str]:
    """Write records, leaderboard and one recipe per Pareto-optimal trial. Returns recipe URIs."""
    rows = ranked(records, space)
    run.write_text(
        "records.jsonl", "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in records)
    )
    run.write_text("leaderboard.csv", leaderboard_csv(rows, space))
    recipes = run.child("recipes")
    uris = []
    for r in front_of(records, space):
        uris.append(
            recipes.write_yaml(f"{r['trial_id']}.yaml", recipe(r, space, run_name, data_info))
        )
    recipes.mark_success({"recipes": len(uris)})
    return uris
