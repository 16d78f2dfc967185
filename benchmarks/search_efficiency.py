"""Search efficiency on the demo landscape: how much compute each search method needs.

1. The landscape: an exhaustive grid (search_spaces/bench_grid.yaml, 5 x 4 code fractions, the
   demo model and data) trained once for real, every point to the end, curves kept (~10 min on
   2 CPU cores; cached: the run folder is reused when it exists)::

       python codemix_search/run.py --space search_spaces/bench_grid.yaml --name bench-grid

2. The methods replay it (a tabular benchmark, as NAS-Bench / HPOBench do): random, TPE, NSGA-II
   and the surrogate sampler propose (code_fraction, cooldown_code_fraction), snapped to the
   nearest grid point; the trial "trains" by reading that point's real validation curve and
   objectives. With ASHA, the trial is stopped at rungs 1, 2, 4 (grace 1, reduction factor 2, the
   demo space's schedule) by the rule Ray Tune's ASHAScheduler applies: stop when the mean
   validation loss is worse than the rung's (1/rf) quantile of losses recorded there so far.
   Compute is the training tokens consumed (a stopped trial pays the tokens up to its rung; a
   point already trained to the end costs nothing again, as a run reuses a twin's result).

Reported per method: the tokens needed to reach 95% of the grid's hypervolume (over the
objectives, the grid's nadir-based reference), as a share of the grid's compute (median over
seeds; "-" when not reached within the trial budget), and for ASHA on the grid itself, the tokens
saved and the share of the grid's Pareto set still found::

    python benchmarks/search_efficiency.py --grid-run runs/bench-grid --seeds 5 --trials 40 \
        --out docs/search_efficiency

Writes <out>.md (table), <out>.json and <out>.png (hypervolume vs tokens, median over seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.config.load import load_space  # noqa: E402
from codemix_search.core.ranking import default_reference, hypervolume, pareto_front  # noqa: E402
from codemix_search.storage.folder import Folder  # noqa: E402

DIMS = ("code_fraction", "cooldown_code_fraction")
GRACE, RF = 1, 2


def load_grid(uri: str):
    run = Folder(uri)
    space = load_space(run.file("space.yaml"))
    records = [json.loads(x) for x in run.read_text("records.jsonl").splitlines() if x]
    grid = {}
    for r in records:
        if r["status"] != "finished":
            continue
        curve = [
            json.loads(x)
            for x in run.child("trials", r["trial_id"]).read_text("curve.jsonl").splitlines()
            if x
        ]
        key = tuple(float(r["config"][d]) for d in DIMS)
        grid[key] = {
            "objectives": [r["objectives"][n] for n in space.metric_names],
            "losses": [c["val_loss"] for c in curve],
            "tokens": [int(c["tokens"]) for c in curve],
        }
    return space, grid


def milestones(n_reports: int) -> list[int]:
    """ASHA rungs (1-based report numbers): grace * rf^k below the last report."""
    out, m = [], GRACE
    while m < n_reports:
        out.append(m)
        m *= RF
    return out


def replay(grid, order_or_sampler, modes, n_trials, asha: bool, seed: int):
    """Run one search over the table; return [(tokens so far, hypervolume so far)] per trial,
    the finished keys, and the tokens spent."""
    import optuna
    from optuna.distributions import FloatDistribution

    keys = sorted(grid)
    levels = [sorted({k[i] for k in keys}) for i in range(len(DIMS))]
    ref = default_reference([grid[k]["objectives"] for k in keys], modes)
    dists = {d: FloatDistribution(min(levels[i]), max(levels[i])) for i, d in enumerate(DIMS)}
    study = None
    if not isinstance(order_or_sampler, list):
        study = optuna.create_study(
            directions=["maximize" if m == "max" else "minimize" for m in modes],
            sampler=order_or_sampler,
        )
    rungs: dict[int, list[float]] = {}
    spent, found, history = 0, [], []
    for i in range(n_trials):
        if study is None:
            if i >= len(order_or_sampler):
                break
            key, trial = order_or_sampler[i], None
        else:
            trial = study.ask(dists)
            key = tuple(
                min(levels[j], key=lambda v, j=j: abs(v - trial.params[d]))
                for j, d in enumerate(DIMS)
            )
        point = grid[key]
        stopped_at = None
        if key in found:  # trained to the end before: the run reuses that result (trial.py)
            if trial is not None:
                study.tell(trial, point["objectives"])
            history.append((spent, history[-1][1]))
            continue
        if asha:
            for m in milestones(len(point["losses"])):
                loss = point["losses"][m - 1]
                seen = rungs.setdefault(m, [])
                seen.append(loss)
                if len(seen) > 1 and loss > np.nanpercentile(seen, 100.0 / RF):
                    stopped_at = m
                    break
        if stopped_at is not None:
            spent += point["tokens"][stopped_at - 1]
            if trial is not None:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            spent += point["tokens"][-1]
            found.append(key)
            if trial is not None:
                study.tell(trial, point["objectives"])
        hv = hypervolume([grid[k]["objectives"] for k in found], modes, ref) if found else 0.0
        history.append((spent, hv))
    return history, found, spent


def samplers(seed: int):
    import optuna

    from codemix_search.search.surrogate import SurrogateSampler

    return {
        "random": optuna.samplers.RandomSampler(seed=seed),
        "tpe": optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5),
        "nsga2": optuna.samplers.NSGAIISampler(seed=seed, population_size=8),
        "surrogate": SurrogateSampler(seed=seed, n_startup_trials=5, n_candidates=256),
    }


def main(argv=None) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-run", default="runs/bench-grid")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--out", default="docs/search_efficiency")
    args = ap.parse_args(argv)
    space, grid = load_grid(args.grid_run)
    modes = space.modes
    keys = sorted(grid)
    values = [grid[k]["objectives"] for k in keys]
    ref = default_reference(values, modes)
    grid_hv = hypervolume(values, modes, ref)
    grid_tokens = sum(grid[k]["tokens"][-1] for k in keys)
    grid_front = {keys[i] for i in pareto_front(values, modes)}
    results, curves = [], {}
    for method in ("random", "tpe", "nsga2", "surrogate"):
        for asha in (False, True):
            shares, finals = [], []
            for seed in range(args.seeds):
                hist, _, _ = replay(grid, samplers(seed)[method], modes, args.trials, asha, seed)
                reach = next((t for t, hv in hist if hv >= args.target * grid_hv), None)
                shares.append(reach / grid_tokens if reach is not None else float("inf"))
                finals.append(hist[-1][1] / grid_hv)
                curves.setdefault(f"{method}{' + asha' if asha else ''}", []).append(hist)
            results.append(
                {
                    "method": method,
                    "asha": asha,
                    "median_share_of_grid_compute": float(np.median(shares)),
                    "reached": int(sum(np.isfinite(shares))),
                    "seeds": args.seeds,
                    "final_hv_share": float(np.median(finals)),
                }
            )
    # ASHA on the grid itself: every point once, in random orders.
    saved, recovered = [], []
    for seed in range(args.seeds):
        order = [keys[i] for i in np.random.RandomState(seed).permutation(len(keys))]
        _, found, spent = replay(grid, order, modes, len(keys), True, seed)
        saved.append(1 - spent / grid_tokens)
        recovered.append(len(grid_front & set(found)) / len(grid_front))
    summary = {
        "grid_points": len(keys),
        "grid_tokens": grid_tokens,
        "grid_hypervolume": grid_hv,
        "grid_front": sorted(grid_front),
        "objectives": dict(zip(space.metric_names, modes, strict=True)),
        "target": args.target,
        "trials_per_search": args.trials,
        "methods": results,
        "asha_on_grid": {
            "median_tokens_saved": float(np.median(saved)),
            "median_front_recovered": float(np.median(recovered)),
            "per_seed_saved": saved,
            "per_seed_recovered": recovered,
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    limit = space.evaluation.limit
    spread = []
    for j, n in enumerate(space.metric_names):
        col = [v[j] for v in values]
        mean = float(np.mean(col))
        # Binomial standard error of an accuracy on `limit` items: the evaluation's own noise.
        se = math.sqrt(max(mean * (1 - mean), 0.0) / limit) if limit else float("nan")
        spread.append(
            f"{n} {min(col):.3f}..{max(col):.3f} (range {max(col) - min(col):.3f}, "
            f"eval noise ~{se:.3f} per point)"
        )
    summary["landscape"] = spread
    with open(args.out + ".json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    lines = [
        "# Search efficiency on the demo landscape\n",
        "Made by `python benchmarks/search_efficiency.py --grid-run runs/bench-grid "
        f"--seeds {args.seeds} --trials {args.trials}` over the grid of "
        "`search_spaces/bench_grid.yaml` "
        f"({len(keys)} points, {grid_tokens:,} training tokens, trained once for real). "
        f"Each search: {args.trials} trials; target {args.target:.0%} of the grid's "
        f"hypervolume ({grid_hv:.4g}); its Pareto set has {len(grid_front)} points.\n",
        "Landscape (objective spread over the grid vs the evaluation's noise): "
        + "; ".join(spread)
        + ".\n",
        "| method | ASHA | tokens to 95% of grid HV (median share of grid compute) | seeds reaching it | final HV share (median) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        share = r["median_share_of_grid_compute"]
        lines.append(
            f"| {r['method']} | {'yes' if r['asha'] else 'no'} | "
            f"{'-' if not np.isfinite(share) else f'{share:.0%}'} | {r['reached']}/{r['seeds']} | "
            f"{r['final_hv_share']:.0%} |"
        )
    a = summary["asha_on_grid"]
    lines.append(
        f"\nASHA over the whole grid: {a['median_tokens_saved']:.0%} of the tokens saved (median "
        f"over {args.seeds} orders), {a['median_front_recovered']:.0%} of the grid's Pareto set "
        f"({len(grid_front)} points) still found."
    )
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        grid_x = np.linspace(0, 2 * grid_tokens, 200)
        for name, hists in curves.items():
            ys = [
                np.interp(grid_x, [0] + [t for t, _ in h], [0] + [v / grid_hv for _, v in h])
                for h in hists
            ]
            ax.plot(
                grid_x / grid_tokens,
                np.median(ys, 0),
                label=name,
                ls="--" if "asha" in name else "-",
            )
        ax.axhline(args.target, color="grey", lw=0.8)
        ax.set_xlabel("training tokens / the grid's tokens")
        ax.set_ylabel("hypervolume / the grid's")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.out + ".png", dpi=120)
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
