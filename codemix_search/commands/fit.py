"""``codemix_search fit``: fit a regression over a swarm of runs and say how well it ranks
mixtures (out of fold, and at a larger size with ``--predict-size``), with 95% intervals."""

from __future__ import annotations

import numpy as np

from codemix_search.analysis import fit as fitting
from codemix_search.commands.swarm_flags import (
    add_fit_flags,
    add_swarm_flags,
    check_seed,
    objective_from,
    swarm_from,
)
from codemix_search.core.strict_json import strict_json
from codemix_search.errors import ConfigError, OneLineParser

SELECT_METHODS = ("gp-ei", "gp-sd", "tpe")


def parser() -> OneLineParser:
    ap = OneLineParser(prog="codemix_search fit", description=__doc__.splitlines()[0])
    add_swarm_flags(ap)
    add_fit_flags(ap)
    ap.add_argument("--predict-size", help="score the fit's predictions on the runs of this size")
    ap.add_argument(
        "--select",
        type=int,
        metavar="N",
        help="pool-based selection: choose N fit-size runs one by one (reading each result from "
        "the table) and compare with a random N",
    )
    ap.add_argument("--select-method", default="gp-ei", choices=SELECT_METHODS)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    check_seed(args.seed)
    objective, mode = objective_from(args)
    swarm = swarm_from(args)
    report, _ = fitting.fit_swarm(
        swarm, objective, mode, args.regressor, args.fit_size, args.predict_size, args.n, args.seed
    )
    out = report.to_json()
    if args.select is not None:
        out["selection"] = selection(swarm, args, objective, mode, report.regressor)
    if args.json:
        print(strict_json(out))
        return 0
    print(text(out))
    return 0


def selection(swarm, args, objective: str, mode: str, regressor: str) -> dict:
    pool = fitting.measured(swarm, swarm.size_index(args.fit_size), objective, "--fit-size")
    if not fitting.SELECT_START < args.select <= len(pool):
        raise ConfigError(
            "--select",
            "",
            f"{args.select}: choose between {fitting.SELECT_START + 1} and the "
            f"{len(pool)} runs at the fit size",
        )
    X, y = swarm.weights[pool], swarm.metrics[objective][pool]
    simplex = fitting.simplex_columns(swarm)
    target = None
    if args.predict_size is not None:
        target = fitting.measured(
            swarm,
            swarm.size_index(args.predict_size, "--predict-size"),
            objective,
            "--predict-size",
        )
    out = {"n": args.select, "method": args.select_method}
    for method in ("random", args.select_method):
        chosen = np.asarray(fitting.select(X, y, args.select, method, simplex, mode, args.seed))
        best = y[chosen].min() if mode == "min" else y[chosen].max()
        row = {"best_found": float(best)}
        if target is not None:
            model = fitting.regressors.fit(regressor, X[chosen], y[chosen], simplex, args.seed)
            pred = model.predict(swarm.weights[target])[0]
            s = fitting.Scores.of(pred, swarm.metrics[objective][target], mode, args.seed)
            row |= {
                "target_spearman": s.spearman,
                "target_regret_share_of_range": s.regret_share_of_range,
            }
        out[method] = row
    return out


def text(out: dict) -> str:
    def ci(v):
        return "[-]" if v is None or v[0] != v[0] else f"[{v[0]:.3f}, {v[1]:.3f}]"

    lines = [
        f"{out['regressor']} on {out['n_train']} runs at size {out['fit_size'] or '-'}, "
        f"objective {out['objective']} ({out['mode']})",
        f"  out of fold: Spearman {out['oof_spearman']:.3f} {ci(out['oof_spearman_ci'])}, "
        f"regret@1 {out['oof_regret_at_1']:.4g} {ci(out['oof_regret_ci'])} "
        f"({100 * out['oof_regret_share_of_range']:.1f}% of the range)",
    ]
    if out["auto_candidates"]:
        lines.append(
            "  auto chose it by out-of-fold Spearman: "
            + ", ".join(f"{k} {v:.3f}" for k, v in out["auto_candidates"].items())
        )
    if "target_spearman" in out:
        lines.append(
            f"  at size {out['predict_size']} ({out['n_target']} runs): Spearman "
            f"{out['target_spearman']:.3f} {ci(out['target_spearman_ci'])}, regret@1 "
            f"{out['target_regret_at_1']:.4g} {ci(out['target_regret_ci'])} "
            f"({100 * out['target_regret_share_of_range']:.1f}% of the range)"
        )
    if "selection" in out:
        s = out["selection"]
        for m in ("random", s["method"]):
            extra = ""
            if "target_spearman" in s[m]:
                extra = (
                    f", fit on them: Spearman {s[m]['target_spearman']:.3f}, regret "
                    f"{100 * s[m]['target_regret_share_of_range']:.1f}% of the range"
                )
            lines.append(f"  select {s['n']} by {m}: best found {s[m]['best_found']:.4g}{extra}")
    return "\n".join(lines)
