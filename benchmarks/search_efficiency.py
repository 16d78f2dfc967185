"""Search efficiency on the demo landscape: how much compute each search method needs.

1. The landscape: an exhaustive grid (search_spaces/bench_grid.yaml: 5 code fractions x 3
   cooldown code fractions x 2 inits, the demo model and data) trained once for real, every
   point to the end, curves kept with the rung metric ASHA compares (~25 min on 2 CPU cores)::

       python codemix_search/run.py --space search_spaces/bench_grid.yaml --name bench-grid \
           --storage runs

2. The methods replay it (a tabular benchmark, as NAS-Bench / HPOBench do): random, TPE, NSGA-II,
   GP and the surrogate sampler propose grid points (categorical distributions over the grid's
   levels); a trial "trains" by reading that point's real curve and objectives. With ASHA, every
   report of the curve goes through the scheduler the product ran until search/rungs.py (
   Ray Tune's ASHAScheduler on ``rung_metric``, grace 1, reduction factor 2, the baseline never
   stopped), which decides CONTINUE or STOP as it does in a run. Compute is the training tokens
   consumed (a stopped trial pays the tokens up to its stop; a point already trained to the end
   costs nothing again, as a run reuses a twin's result).

Reported per method, with and without ASHA, median over seeds: the share of the grid's compute
needed to reach 95% of the grid's hypervolume ("-" when not reached within the trial budget) and
the share of the grid's Pareto set found; for ASHA over the whole grid, the tokens saved and the
share of the Pareto set kept. First, per objective, the grid's spread against its measured noise
(the run's report: checkpoint-to-checkpoint and item noise)::

    python benchmarks/search_efficiency.py --grid-run runs/bench-grid --seeds 5 --trials 30 \
        --out docs/search_efficiency

Writes <out>.md (tables), <out>.json and <out>.png (hypervolume vs tokens, median over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.core.ranking import default_reference, hypervolume, pareto_front  # noqa: E402
from codemix_search.core.schedule import max_reports  # noqa: E402
from codemix_search.search.tuner import BaselineKeepingASHA  # noqa: E402
from codemix_search.storage.folder import Folder  # noqa: E402

GRACE, RF = 1, 2


def load_grid(uri: str):
    """The grid's space, its varied dimensions and {point: objectives, curve, config}, from a
    run folder or from the committed per-point file (benchmarks/grid_points.py)."""
    from benchmarks.grid_points import load

    space, rows = load(uri)
    dims = [p.name for p in space.parameters if p.type != "fixed"]
    pretraining = [d for d in dims if d not in space.cooldown_param_names]
    grid = {}
    for r in rows:
        grid[tuple(r["config"][d] for d in dims)] = {
            "objectives": [r["objectives"][n] for n in space.metric_names],
            "curve": r["curve"],
            "tokens": [int(c["tokens"]) for c in r["curve"]],
            "config": r["config"],
            # the shared pretraining it branched from (a grid run with branching), else what
            # it would share: the same init, pretraining mixture and knobs
            "prefix": r.get("prefix") or tuple(r["config"][d] for d in pretraining),
            "shared_tokens": int(r.get("shared_tokens") or 0),
        }
    return space, dims, grid


def signal_of(uri: str) -> dict:
    """The run's signal table (noise components per objective)."""
    if uri.endswith("_points.jsonl"):
        from benchmarks.grid_points import read

        return read(uri)[0].get("signal") or {}
    return Folder(uri).child("report").read_json("report.json").get("signal", {})


class _Trial:
    """What ASHA reads of a Tune trial."""

    def __init__(self, trial_id: str, config: dict):
        self.trial_id, self.config = trial_id, config


def asha_for(space):
    """Tune's ASHA on the scalar ``rung_metric`` (the mean BPB of the objectives), as the
    product ran before search/rungs.py: what docs/search_efficiency.* measured."""
    return BaselineKeepingASHA(
        space.is_baseline, time_attr="training_iteration", metric="rung_metric", mode="min",
        max_t=max_reports(space.training.evals, space.evaluation.noise_checkpoints) + 1,
        grace_period=GRACE, reduction_factor=RF,
    )  # fmt: skip


def run_point(scheduler, i: int, point: dict) -> int | None:
    """Feed a point's real reports to the scheduler; the report index it stopped at, or None."""
    if scheduler is None:
        return None
    trial = _Trial(f"t{i}", point["config"])
    scheduler.on_trial_add(None, trial)
    for it, report in enumerate(point["curve"], 1):
        if scheduler.on_trial_result(None, trial, {**report, "training_iteration": it}) == "STOP":
            return it
    scheduler.on_trial_complete(None, trial, {**point["curve"][-1]})
    return None


def replay(space, dims, grid, order_or_sampler, n_trials: int, asha: bool):
    """One search over the table: [(tokens so far, hypervolume so far)] per trial, the points
    trained to the end, and the tokens spent."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    modes = space.modes
    keys = sorted(grid, key=str)
    ref = default_reference([grid[k]["objectives"] for k in keys], modes)
    dists = {
        d: CategoricalDistribution(sorted({k[i] for k in keys}, key=str))
        for i, d in enumerate(dims)
    }
    study = None
    if not isinstance(order_or_sampler, list):
        study = optuna.create_study(
            directions=["maximize" if m == "max" else "minimize" for m in modes],
            sampler=order_or_sampler,
        )
    scheduler = asha_for(space) if asha else None
    spent, found, history = 0, [], []
    for i in range(n_trials):
        if study is None:
            if i >= len(order_or_sampler):
                break
            key, trial = order_or_sampler[i], None
        else:
            trial = study.ask(dists)
            key = tuple(trial.params[d] for d in dims)
        point = grid[key]
        if key in found:  # trained to the end before: the run reuses that result (trial.py)
            if trial is not None:
                study.tell(trial, point["objectives"])
            history.append((spent, history[-1][1]))
            continue
        stopped_at = run_point(scheduler, i, point)
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
        "gp": optuna.samplers.GPSampler(seed=seed, n_startup_trials=5),
        "surrogate": SurrogateSampler(seed=seed, n_startup_trials=5, n_candidates=256),
    }


def landscape_noise(sig: dict) -> float:
    """One trial's noise from a signal-table row: seed and item noise in quadrature (what a
    rerun would show); the checkpoint spread, measured inside the annealed cooldown, is not
    counted. Older reports without seed noise fall back to checkpoint + item."""
    if "seed_noise" in sig:
        return float(np.hypot(sig.get("seed_noise") or 0.0, sig.get("item_noise") or 0.0))
    return float(np.hypot(sig.get("checkpoint_noise") or 0.0, sig.get("item_noise") or 0.0))


def landscape(space, grid, run_uri: str) -> list[dict]:
    """Per objective: the grid's spread and the noise the run measured (report.json's signal
    table), and their ratio."""
    signal = signal_of(run_uri)
    values = np.array([p["objectives"] for p in grid.values()])
    out = []
    for j, name in enumerate(space.metric_names):
        sig = signal.get(name, {})
        noise = landscape_noise(sig)
        spread = float(values[:, j].max() - values[:, j].min())
        out.append({
            "objective": name, "min": float(values[:, j].min()), "max": float(values[:, j].max()),
            "spread": spread, "std": float(values[:, j].std(ddof=1)), "noise": float(noise),
            "spread_over_noise": spread / noise if noise else float("inf"),
            "snr": sig.get("snr"),
        })  # fmt: skip
    return out


def compute_to_reach(history, grid_hv: float, target: float, grid_tokens: float) -> float:
    """Share of the grid's tokens spent when the search's hypervolume first reached ``target``
    of the grid's (inf when it never did)."""
    reach = next((t for t, hv in history if hv >= target * grid_hv), None)
    return reach / grid_tokens if reach is not None else float("inf")


def front_share(front: set, found) -> float:
    """Share of the grid's Pareto set among the points trained to the end."""
    return len(front & set(found)) / len(front)


def methods(space, dims, grid, args) -> tuple[list[dict], dict]:
    keys = sorted(grid, key=str)
    values = [grid[k]["objectives"] for k in keys]
    grid_hv = hypervolume(values, space.modes, default_reference(values, space.modes))
    grid_tokens = sum(grid[k]["tokens"][-1] for k in keys)
    front = {keys[i] for i in pareto_front(values, space.modes)}
    results, curves = [], {}
    every = ("random", "tpe", "nsga2", "gp", "surrogate")
    for method in every[:2] if args.smoke else every:  # smoke (CI): the cheap ones
        for asha in (False, True):
            shares, finals, found_share, spent_share = [], [], [], []
            for seed in range(args.seeds):
                hist, found, spent = replay(
                    space, dims, grid, samplers(seed)[method], args.trials, asha
                )
                shares.append(compute_to_reach(hist, grid_hv, args.target, grid_tokens))
                finals.append(hist[-1][1] / grid_hv)
                found_share.append(front_share(front, found))
                spent_share.append(spent / grid_tokens)
                curves.setdefault(f"{method}{' + asha' if asha else ''}", []).append(hist)
            results.append({
                "method": method, "asha": asha, "seeds": args.seeds,
                "median_share_of_grid_compute": float(np.median(shares)),
                "reached": int(sum(np.isfinite(shares))),
                "final_hv_share": float(np.median(finals)),
                "pareto_set_found": float(np.median(found_share)),
                "compute_spent": float(np.median(spent_share)),
            })  # fmt: skip
    return results, {
        "curves": curves,
        "grid_hv": grid_hv,
        "grid_tokens": grid_tokens,
        "front": front,
        "keys": keys,
    }


def bounds(space, grid, target: float) -> dict:
    """What no method can beat on this grid: the fewest points whose hypervolume reaches the
    target (greedy, so an upper bound on that minimum; any search must train at least that many
    to the end), and the most compute any early stopping can save while keeping 80% of the
    Pareto set (stop every other point at its first report)."""
    keys = sorted(grid, key=str)
    values = [grid[k]["objectives"] for k in keys]
    ref = default_reference(values, space.modes)
    total = hypervolume(values, space.modes, ref)
    chosen: list[int] = []
    while not chosen or hypervolume([values[i] for i in chosen], space.modes, ref) < target * total:
        rest = [i for i in range(len(keys)) if i not in chosen]
        chosen.append(max(rest, key=lambda i: hypervolume(
            [values[j] for j in [*chosen, i]], space.modes, ref)))  # fmt: skip
    front = pareto_front(values, space.modes)
    keep = int(np.ceil(0.8 * len(front)))
    stoppable = len(keys) - keep
    first = np.mean([grid[k]["tokens"][0] / grid[k]["tokens"][-1] for k in keys])
    return {
        "points_for_target_hv": len(chosen),
        "min_share_for_target_hv": len(chosen) / len(keys),
        "front_points": len(front),
        "max_saving_keeping_80pct_of_front": stoppable * (1 - first) / len(keys),
        "first_report_share_of_tokens": float(first),
    }


def dominance_rule(space, grid, seeds: int, need: int = 1) -> dict:
    """A multi-objective alternative to ASHA's scalar rule, replayed over the whole grid (not a
    product scheduler): stop a trial at its first report when at least ``need`` trials recorded
    there dominate it on every objective's rung BPB (``rung/<objective>``)."""
    keys = sorted(grid, key=str)
    values = [grid[k]["objectives"] for k in keys]
    front = {keys[i] for i in pareto_front(values, space.modes)}
    total = sum(grid[k]["tokens"][-1] for k in keys)
    names = space.metric_names

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    saved, kept = [], []
    for seed in range(seeds):
        seen, spent, found = [], 0, []
        for k in [keys[i] for i in np.random.RandomState(seed).permutation(len(keys))]:
            v = [grid[k]["curve"][0][f"rung/{n}"] for n in names]
            stop = not space.is_baseline(grid[k]["config"]) and (
                sum(dominates(o, v) for o in seen) >= need
            )
            seen.append(v)
            spent += grid[k]["tokens"][0 if stop else -1]
            if not stop:
                found.append(k)
        saved.append(1 - spent / total)
        kept.append(front_share(front, found))
    return {"need": need, "median_tokens_saved": float(np.median(saved)),
            "median_front_kept": float(np.median(kept))}  # fmt: skip


def main(argv=None) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-run", default="runs/bench-grid")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--out", default="docs/search_efficiency")
    ap.add_argument(
        "--tiny",
        default="docs/bench_grid_tiny_points.jsonl",
        help="the grid's tiny twin (the swarm of swarm-and-confirm)",
    )
    ap.add_argument("--swarm-proxies", help="per-point file of a swarm run's stage 1")
    ap.add_argument("--swarm-confirm", help="per-point file of its stage 2 (confirmations)")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the committed grid points, 1 seed, 10 trials; --out to a temp folder (CI)",
    )
    ap.add_argument(
        "--markdown-only", action="store_true", help="rewrite <out>.md from <out>.json (no search)"
    )
    args = ap.parse_args(argv)
    if args.markdown_only:
        with open(args.out + ".json") as f:
            summary = json.load(f)
        with open(args.out + ".md", "w") as f:
            f.write(render(summary, args))
        return 0
    if args.smoke:
        args.grid_run, args.seeds, args.trials = "docs/bench_grid_points.jsonl", 1, 10
        args.out = os.path.join(tempfile.mkdtemp(prefix="cm-search-"), "search_efficiency")
    space, dims, grid = load_grid(args.grid_run)
    land = landscape(space, grid, args.grid_run)
    results, ctx = methods(space, dims, grid, args)
    keys, front, grid_tokens = ctx["keys"], ctx["front"], ctx["grid_tokens"]
    # ASHA over the grid itself: every point once, in random orders.
    saved, kept = [], []
    for seed in range(args.seeds):
        order = [keys[i] for i in np.random.RandomState(seed).permutation(len(keys))]
        _, found, spent = replay(space, dims, grid, order, len(keys), True)
        saved.append(1 - spent / grid_tokens)
        kept.append(front_share(front, found))
    summary = {
        "grid_run": args.grid_run, "dims": dims, "grid_points": len(keys),
        "grid_tokens": grid_tokens, "grid_hypervolume": ctx["grid_hv"],
        "grid_front": [dict(zip(dims, k, strict=True)) for k in sorted(front, key=str)],
        "objectives": dict(zip(space.metric_names, space.modes, strict=True)),
        "landscape": land, "target": args.target, "trials_per_search": args.trials,
        "bounds": bounds(space, grid, args.target),
        "dominance_rule": [dominance_rule(space, grid, args.seeds, n) for n in (1, 2)],
        "methods_trial_cap": results,
        "asha_on_grid": {
            "median_tokens_saved": float(np.median(saved)),
            "median_front_kept": float(np.median(kept)),
            "per_seed_saved": saved, "per_seed_kept": kept,
        },
    }  # fmt: skip
    summary |= fair_comparison(space, dims, grid, args)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    text = render(summary, args)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    print(text)
    plot(ctx, args)
    return 0


def render(summary: dict, args) -> str:
    """The markdown page of a summary (``--markdown-only`` rewrites it from the JSON)."""
    rules = "; ".join(
        f"dominated by >= {r['need']}: {r['median_tokens_saved']:.0%} saved, "
        f"{r['median_front_kept']:.0%} of the Pareto set kept"
        for r in summary["dominance_rule"]
    )
    return markdown(summary, args) + (
        "\nA Pareto rung rule instead of ASHA's scalar one (benchmark only, not a product "
        "scheduler: stop at the first report when dominated on every objective's rung BPB by "
        f"trials recorded there), over the whole grid, median of {args.seeds} orders: {rules}.\n"
    )


def fair_comparison(space, dims, grid, args) -> dict:
    """Issue 27's targets on the committed grid (benchmarks/_fair_search.py)."""
    from benchmarks import _fair_search as fair

    signal = signal_of(args.grid_run)
    sigmas = [landscape_noise(signal[n]) if n in signal else None for n in space.metric_names]
    out = {
        # the smoke size (CI) runs the cheap methods only: GP's asks grow with its trials
        "methods": fair.compare_methods(
            space, dims, grid, sigmas, args.seeds, fair.METHODS[:3] if args.smoke else fair.METHODS
        ),
        "budget": "the grid's compute (every point trained to the end), not a trial cap",
        "early_stopping": fair.early_stopping(space, grid, args.seeds),
    }
    if args.tiny and os.path.exists(args.tiny):
        tiny_space, _, tiny = load_grid(args.tiny)
        by_k = fair.swarm_confirm(space, tiny_space, grid, tiny, sigmas, dims)
        head = next(r for r in by_k if r["k"] == 3)
        out["swarm_confirm"] = {
            "k": 3, "compute_share": head["compute_share"], "within_noise": head["within_noise"],
            "source": "emulated on the tiny twin's committed points", "by_k": by_k,
        }  # fmt: skip
    if args.swarm_proxies and os.path.exists(args.swarm_proxies):
        run = fair.swarm_run(space, grid, sigmas, args.swarm_proxies, args.swarm_confirm)
        emulated = out.get("swarm_confirm", {})
        out["swarm_confirm"] = {
            "k": 3, "compute_share": run["compute_share"], "within_noise": run["within_noise"],
            "source": "search.strategy: swarm through run.py", "run": run,
            "by_k": emulated.get("by_k", []),
        }  # fmt: skip
    return out


def fair_markdown(summary: dict) -> list[str]:
    def pct(x):
        return "not reached" if not np.isfinite(x) else f"{x:.0%}"

    e = summary["early_stopping"]
    lines = [
        "\n## Fair comparison: a compute budget, each method its own seeds, a shuffle floor\n",
        "Every search may spend the grid's compute, counted as the product spends it with "
        "branched cooldowns (a point costs its cooldown, and its shared pretraining the first "
        f"time: the grid itself trains {e['branched_grid_tokens']:,} tokens so, "
        f"{e['unbranched_grid_tokens']:,} with every point pretrained alone). (a) is the compute "
        "until a point within noise of the grid's best equal-weight point (each objective "
        "scaled by its noise) is trained to the end, (b) until 95% of the grid's hypervolume; "
        "shares of the branched grid, and in brackets of the grid without branching. Medians "
        "over seeds; the shuffle (the grid in a random order, without replacement) is the "
        "floor; `*_variants`: the two-level sampler (`branching.variants: 3`).\n",
        "| method | (a) preference_compute_share | (b) hv95_compute_share |",
        "|---|---|---|",
    ]
    for r in summary["methods"]:
        lines.append(
            f"| {r['method']} | {pct(r['preference_compute_share'])} "
            f"({pct(r['preference_share_of_unbranched_grid'])}) | "
            f"{pct(r['hv95_compute_share'])} ({pct(r['hv95_share_of_unbranched_grid'])}) |"
        )
    lines.append(
        f"\n(c) Early stopping with the product's front-keeping rule ({e['rule']}; rungs at "
        f"reports {e['rungs']}, "
        + (
            "one inside the cooldown"
            if e["rung_inside_cooldown"]
            else "none inside the cooldown: these curves predate the mid-cooldown report"
        )
        + f") and branched cooldowns ({e['pretraining_groups']} pretraining prefixes for "
        f"{summary['grid_points']} points): {e['tokens_saved']:.0%} of the grid's tokens saved, "
        f"{e['front_kept']:.0%} of the Pareto set kept (median of the orders); branching alone "
        f"saves {e['branching_tokens_saved']:.0%}, the rule alone "
        f"{e['tokens_saved_without_branching']:.0%}."
    )
    run = summary.get("swarm_confirm", {}).get("run")
    if run:
        st = run["stages"]
        lines.append(
            f"\n(d) `search.strategy: swarm` through run.py: {st['proxies']['points']} proxies at "
            f"{st['proxies']['model']} ({st['proxies']['twins']} of them twins of another, free), "
            f"{st['confirm']['points']} confirmations at {st['confirm']['model']} (the baseline "
            f"included): **{run['compute_share']:.1%} of the grid's demo-size compute** (the tiny "
            f"stage {run['tiny_stage_share']:.1%}); the confirmed best {run['confirmed']} is "
            + ("**within noise**" if run["within_noise"] else "**not within noise**")
            + f" of the grid's best {run['grid_best']} (judged on the grid's own measurements of "
            "both mixtures"
            + (
                ""
                if run["same_data_as_grid"]
                else ": the confirmation run trained on another "
                "build of the demo data, whose BPB are not comparable with the grid's"
            )
            + ")."
        )
    if "swarm_confirm" in summary:
        lines.append(
            "\n(d) Swarm at tiny, confirm at demo (the tiny twin's 30 points as the swarm, its "
            "top k on the equal-weight preference trained at demo; compute in training FLOPs, the "
            "tiny stage at its own cost):\n"
        )
        lines += [
            "| k | compute share of the demo grid | tiny stage | confirmed | within noise of the grid's best |",
            "|---|---|---|---|---|",
        ]
        for r in summary["swarm_confirm"]["by_k"]:
            lines.append(
                f"| {r['k']} | {r['compute_share']:.1%} | {r['tiny_stage_share']:.1%} | "
                f"{r['confirmed']} | {'yes' if r['within_noise'] else 'no'} |"
            )
    return lines


def markdown(summary: dict, args) -> str:
    es = summary.get("early_stopping")
    lines = [
        "# Search efficiency on the demo landscape\n",
        f"Made by `python benchmarks/search_efficiency.py --grid-run {args.grid_run} "
        f"--seeds {args.seeds} --trials {args.trials}"
        + (
            f" --swarm-proxies {args.swarm_proxies} --swarm-confirm {args.swarm_confirm}"
            if args.swarm_proxies
            else ""
        )
        + f"` over the grid of `search_spaces/bench_grid.yaml` ({summary['grid_points']} points "
        f"over {', '.join(summary['dims'])}; {summary['grid_tokens']:,} training tokens with "
        "every point pretrained alone"
        + (f", {es['branched_grid_tokens']:,} with shared pretraining" if es else "")
        + f"; trained once for real). Each search: {args.trials} trials; target "
        f"{args.target:.0%} of the grid's hypervolume; the grid's Pareto set has "
        f"{len(summary['grid_front'])} points.\n",
        "## Can the objectives tell the grid's points apart?\n",
        "| objective (BPB, lower is better) | grid min..max | spread | measured noise | "
        "spread / noise | SNR (report) |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["landscape"]:
        snr = "-" if r["snr"] is None else f"{r['snr']:.1f}"
        lines.append(
            f"| {r['objective']} | {r['min']:.3f}..{r['max']:.3f} | {r['spread']:.3f} | "
            f"{r['noise']:.4f} | {r['spread_over_noise']:.1f}x | {snr} |"
        )
    lines += [
        "\n## Methods under a 30-trial cap (the first benchmark; unfair, kept for comparison)\n",
        "| method | ASHA | compute to 95% of grid HV (median share of the grid's) | seeds "
        "reaching it | Pareto set found (median) | compute spent (median) | final HV share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["methods_trial_cap"]:
        share = r["median_share_of_grid_compute"]
        lines.append(
            f"| {r['method']} | {'yes' if r['asha'] else 'no'} | "
            f"{'-' if not np.isfinite(share) else f'{share:.0%}'} | {r['reached']}/{r['seeds']} | "
            f"{r['pareto_set_found']:.0%} | {r['compute_spent']:.0%} | {r['final_hv_share']:.0%} |"
        )
    b = summary["bounds"]
    lines.append(
        f"\nWhat no method can beat here: {b['front_points']} of the {summary['grid_points']} "
        f"points are Pareto-optimal (four objectives). Reaching {args.target:.0%} of the grid's "
        f"hypervolume takes at least ~{b['points_for_target_hv']} points trained to the end "
        f"(greedy selection; {b['min_share_for_target_hv']:.0%} of the grid's compute). Early "
        f"stopping that keeps 80% of the Pareto set can save at most "
        f"{b['max_saving_keeping_80pct_of_front']:.0%} of the tokens (every other point stopped at "
        f"its first report, {b['first_report_share_of_tokens']:.0%} of its tokens)."
    )
    a = summary["asha_on_grid"]
    lines.append(
        f"\nASHA over the whole grid (every point once, {args.seeds} random orders): "
        f"{a['median_tokens_saved']:.0%} of the tokens saved (per order: "
        f"{', '.join(f'{x:.0%}' for x in a['per_seed_saved'])}), "
        f"{a['median_front_kept']:.0%} of the grid's Pareto set kept (per order: "
        f"{', '.join(f'{x:.0%}' for x in a['per_seed_kept'])})."
    )
    lines += fair_markdown(summary)
    return "\n".join(lines) + "\n"


def plot(ctx: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid_tokens, grid_hv = ctx["grid_tokens"], ctx["grid_hv"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = np.linspace(0, grid_tokens, 200)
    for name, hists in ctx["curves"].items():
        # Each median curve ends where its data ends: at the least compute any seed's search
        # spent (a search capped by trials that stopped early is not drawn flat to 100%).
        end = min(h[-1][0] for h in hists)
        keep = xs <= end
        ys = [
            np.interp(xs[keep], [0] + [t for t, _ in h], [0] + [v / grid_hv for _, v in h])
            for h in hists
        ]
        ax.plot(
            xs[keep] / grid_tokens, np.median(ys, 0), label=name, ls="--" if "asha" in name else "-"
        )
    ax.axhline(args.target, color="grey", lw=0.8)
    ax.set_xlabel("training tokens / the grid's tokens")
    ax.set_ylabel("hypervolume / the grid's")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(args.out + ".png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
