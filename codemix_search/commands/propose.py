"""``codemix_search propose``: the mixture(s) a fit over a swarm predicts best, over the whole
simplex, under constraints; written as recipes marked ``predicted: true`` (and, for a swarm of
our own runs, a space file whose ``points_to_evaluate`` confirms them at a larger size)."""

from __future__ import annotations

import datetime
import math
import os
import sys
import tempfile

import numpy as np

from codemix_search.analysis import fit as fitting
from codemix_search.analysis import propose as prop
from codemix_search.analysis.swarm import Swarm, column_label, parse_objective, weights_dict
from codemix_search.commands.swarm_flags import (
    add_fit_flags,
    add_swarm_flags,
    check_seed,
    swarm_from,
)
from codemix_search.config.load import read_user_yaml
from codemix_search.core.strict_json import strict_json
from codemix_search.errors import ConfigError, OneLineParser
from codemix_search.export.units import UnitsError, parse_count
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def parser() -> OneLineParser:
    ap = OneLineParser(prog="codemix_search propose", description=__doc__.splitlines()[0])
    add_swarm_flags(ap)
    add_fit_flags(ap)
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="COLUMN[:min|max]",
        help="another objective to predict (for --weights, --front, --constraint)",
    )
    ap.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="a=2,b=1",
        help="a preference over the objectives (each scaled by its measured range)",
    )
    ap.add_argument("--front", action="store_true", help="the predicted Pareto front instead")
    ap.add_argument("--constraint", action="append", default=[], metavar="OBJ<=VALUE|baseline")
    ap.add_argument("--baseline", help="the run id '<=baseline' compares with")
    ap.add_argument("--min", action="append", default=[], metavar="COLUMN=W")
    ap.add_argument("--max", action="append", default=[], metavar="COLUMN=W")
    ap.add_argument("--available", help="YAML/JSON {source: tokens available} (repetition cap)")
    ap.add_argument("--target-tokens", help="the target run's token budget, e.g. 300B")
    ap.add_argument(
        "--max-epochs",
        type=float,
        default=4.0,
        help="most repetitions of a source at the target budget (default 4)",
    )
    ap.add_argument("--k", type=int, default=1, help="how many distinct proposals (default 1)")
    ap.add_argument("--out", help="folder for the recipes, surface plot and space file")
    ap.add_argument("--confirm-model", help="model size of the confirmation space (e.g. demo)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    check_seed(args.seed)
    if not 1 <= args.k <= 100:
        raise ConfigError("--k", "", f"{args.k}: between 1 and 100 proposals")
    swarm = swarm_from(args)
    specs = [parse_objective(args.objective)] + [parse_objective(a) for a in args.also]
    objectives, report = fit_objectives(swarm, specs, args)
    names = [o.name for o in objectives]
    preference = prop.parse_pairs(args.weights, "--weights", names) or {names[0]: 1.0}
    limits = prop.Limits.build(swarm, *limit_args(swarm, args))
    bounds = [prop.parse_bound(c, swarm, args.baseline) for c in args.constraint]
    for b in bounds:
        if b.objective not in names:
            raise ConfigError("--constraint", "", f"{b.objective!r}: add it with --also")
    proposals = prop.search(
        swarm, objectives, preference, limits, bounds, args.front, args.k, args.seed
    )
    best_run = best_measured(swarm, objectives[0], report.train_rows)
    out = {
        "regressor": report.regressor,
        "n_train": report.n_train,
        "fit_size": report.fit_size,
        "oof_spearman": report.oof.spearman,
        "preference": preference,
        "proposals": [
            {"weights": weights_dict(swarm, rounded(swarm, p.weights)), "predicted": p.predicted}
            for p in proposals
        ],
        "best_measured_run": best_run,
    }
    if args.out:
        pd_ = prop.partial_dependence(swarm, objectives[0], proposals[0].weights)
        out["partial_dependence"] = pd_
        out["written"] = write(args, argv, swarm, out, objectives[0].name)
    print(strict_json(out) if args.json else text(out, names))
    return 0


def fit_objectives(swarm: Swarm, specs, args):
    objectives, first = [], None
    for name, mode in specs:
        report, model = fitting.fit_swarm(
            swarm, name, mode, args.regressor, args.fit_size, None, args.n, args.seed
        )
        first = first or report
        y = swarm.metrics[name][report.train_rows]
        best = float(y.min() if mode == "min" else y.max())
        objectives.append(prop.Objective(name, mode, model, float(np.ptp(y)), best))
    return objectives, first


def limit_args(swarm: Swarm, args):
    space = run_space(args)
    floor = float(((space or {}).get("mixture") or {}).get("min_weight", 0.0))
    # a dirichlet space lifts every weight to its min_weight: a proposal below it has no point
    mins = {swarm.columns[j]: floor for b in swarm.blocks if not b.onehot for j in b.columns}
    mins |= prop.parse_pairs(args.min, "--min", swarm.columns)
    maxs = prop.parse_pairs(args.max, "--max", swarm.columns)
    available = None
    if args.available or args.target_tokens is not None:
        if not (args.available and args.target_tokens):
            raise ConfigError(
                "--available",
                "",
                "the repetition cap needs both --available FILE and --target-tokens N",
            )
        target_tokens = _count(args.target_tokens, "--target-tokens", "--target-tokens")
        if not math.isfinite(args.max_epochs) or not args.max_epochs > 0:
            raise ConfigError("--max-epochs", "", f"{args.max_epochs}: a positive number")
        raw = read_user_yaml(args.available, "give a YAML file of sizes (code: 250B)")
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(args.available, "", "a mapping of source -> tokens (e.g. code: 250B)")
        available = {str(k): _count(v, args.available, str(k)) for k, v in raw.items()}
        return mins, maxs, available, target_tokens, args.max_epochs
    return mins, maxs, available, None, args.max_epochs


def _count(value, file: str, field: str) -> float:
    """``300B`` / ``1.5T`` / ``4e9`` -> tokens (the same parser as ``export --target-tokens``)."""
    try:
        return parse_count(value, field)
    except UnitsError as e:
        raise ConfigError(file, "" if file == field else field, str(e)) from None


def best_measured(swarm: Swarm, obj: prop.Objective, rows: list[int]) -> dict:
    y = swarm.metrics[obj.name][rows]
    i = rows[int(np.argmin(y) if obj.mode == "min" else np.argmax(y))]
    return {
        "id": swarm.ids[i],
        obj.name: float(swarm.metrics[obj.name][i]),
        "weights": weights_dict(swarm, swarm.weights[i]),
    }


def write(args, argv, swarm: Swarm, out: dict, objective: str) -> list[str]:
    """Recipes, the surface (PNG + JSON), a confirmation space where one can be made; all in a
    local temp folder first, then published with _SUCCESS (nothing half-written)."""
    made_by = {
        "command": " ".join(
            ["codemix_search", "propose", *(sys.argv[2:] if argv is None else argv)]
        ),
        "tables": list(args.tables),
        "regressor": out["regressor"],
        "n_train": out["n_train"],
        "fit_size": out["fit_size"],
        "seed": args.seed,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        local = Folder(tmp)
        for k, p in enumerate(out["proposals"]):
            local.write_yaml(
                f"proposal-{k}.yaml",
                {
                    "predicted": True,
                    "weights": p["weights"],
                    "prediction": p["predicted"],
                    "preference": out["preference"],
                    "made_by": made_by,
                },
            )
        local.write_json(
            "surface.json",
            {"objective": objective, "partial_dependence": out["partial_dependence"]},
        )
        prop.plot_partial_dependence(
            out["partial_dependence"], objective, os.path.join(tmp, "surface.png")
        )
        space = confirm_space(swarm, args, out)
        if space is not None:
            local.write_yaml("confirm.yaml", space)
        Folder(args.out).publish_from(tmp, {"proposals": len(out["proposals"])})
        return sorted(os.listdir(tmp))


def confirm_space(swarm: Swarm, args, out: dict) -> dict | None:
    """For a swarm of one run of ours with the dirichlet parametrisation: its space with the
    proposals as ``points_to_evaluate`` (exactly their weights) at ``--confirm-model``."""
    space = run_space(args)
    mixture = (space or {}).get("mixture") or {}
    if mixture.get("parametrisation") != "dirichlet":
        return None
    points = []
    for p in out["proposals"]:
        full = {
            b.name: {
                column_label(swarm.columns[j], b): p["weights"][b.name].get(
                    column_label(swarm.columns[j], b), 0.0
                )
                for j in b.columns
            }
            for b in swarm.blocks
            if not b.onehot
        }
        points.append(prop.dirichlet_point(full, float(mixture.get("min_weight", 0.0))))
    space["points_to_evaluate"] = points
    space["name"] = f"{space.get('name', 'run')}-confirm"
    if args.confirm_model:
        space.setdefault("training", {})["model"] = args.confirm_model
    return space


def rounded(swarm: Swarm, w: np.ndarray, places: int = 6) -> np.ndarray:
    """Weights to ``places`` decimals that still sum to exactly 1 per block in the decimals
    written (largest remainder: the units lost to rounding down go to the largest remainders)."""
    out = np.array(w, float)
    unit = 10**places
    for b in swarm.blocks:
        cols = list(b.columns)
        scaled = out[cols] * unit
        floor = np.floor(scaled)
        short = int(round(unit - floor.sum()))
        floor[np.argsort(-(scaled - floor))[:short]] += 1
        out[cols] = floor / unit
    return out


def run_space(args) -> dict | None:
    """The space of the one run folder the swarm came from (None for other tables)."""
    if len(args.tables) != 1 or not Folder(args.tables[0]).exists(RunLayout.RECORDS):
        return None
    return Folder(args.tables[0]).read_yaml(RunLayout.SPACE)


def text(out: dict, names: list[str]) -> str:
    lines = [
        f"{out['regressor']} fit on {out['n_train']} runs at size {out['fit_size'] or '-'} "
        f"(out-of-fold Spearman {out['oof_spearman']:.3f}); preference {out['preference']}"
    ]
    for k, p in enumerate(out["proposals"]):
        pred = ", ".join(
            f"{n} {p['predicted'][n]['mean']:.4g} +- {p['predicted'][n]['sd']:.2g}" for n in names
        )
        lines.append(f"proposal {k}: {pred}")
        for block, ws in p["weights"].items():
            top = sorted(ws.items(), key=lambda kv: -kv[1])
            lines.append(f"  {block}: " + ", ".join(f"{c} {w:.3f}" for c, w in top))
    b = out["best_measured_run"]
    lines.append(f"best measured run: {b['id']} ({names[0]} {b[names[0]]:.4g})")
    if "written" in out:
        lines.append(f"written: {', '.join(out['written'])}")
    return "\n".join(lines)
