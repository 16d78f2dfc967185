"""How well does a regression over small proxy runs rank mixtures at larger sizes? Measured on
RegMix's published swarm (benchmarks/data/regmix, MIT, runs no one here made).

For each target (RegMix's 13 Pile validation losses and their mean), regressor and N: fit on a
seeded random N of the 512 1M training runs, then score the predictions on
- the 256 held-out 1M runs (Spearman),
- the same 256 mixtures trained at 60M (Spearman),
- the 64 other mixtures trained at 1B (Spearman; regret@1 as a share of the 1B range).
Pool-based selection (``codemix_search fit --select``): choose N of the 512 runs one by one
(GP expected improvement, GP largest sd, or a random draw), fit a GP on them, score at 1B.

Every row (target, regressor, N, seed, scores, seconds) goes to ``swarm_fit_points.jsonl``; the
summary JSON, markdown table and plot are recomputed from those rows alone
(``--from-points``), which is what tests/unit/test_swarm_benchmark.py checks.

    python benchmarks/swarm_fit.py                 # ~25 min on 2 cores, writes docs/swarm_fit.*
    python benchmarks/swarm_fit.py --smoke --out /tmp/sf   # CI: 1 seed, N = 32, 3 targets
    python benchmarks/swarm_fit.py --from-points   # summary, table and plot from the rows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.analysis import fit as fitting  # noqa: E402
from codemix_search.analysis import regressors  # noqa: E402
from codemix_search.analysis.swarm import metric_mean  # noqa: E402
from codemix_search.analysis.swarm_readers import SwarmSpec, read  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "regmix")
DOCS = os.path.join(os.path.dirname(HERE), "docs")
REGRESSORS = ("lightgbm-default", "lightgbm", "gp", "loglinear")
NS = (32, 64, 128, 512)
SELECT_NS = (32, 64)
SELECT_METHODS = ("random", "gp-ei", "gp-sd")
ANCHOR = {
    "64": {"spearman_1b": 0.886, "regret_1b_share": 0.043},
    "512": {"spearman_1b": 0.945, "regret_1b_share": 0.012},
}
"""The issue's off-the-shelf LightGBM figures (1,000 trees, lr 0.05, 15 leaves)."""


class DefaultLightGBM:
    """RegMix's off-the-shelf LightGBM (min_child_samples left at LightGBM's default 20)."""

    def __init__(self, seed):
        import lightgbm as lgb

        self.m = lgb.LGBMRegressor(
            n_estimators=1000, learning_rate=0.05, num_leaves=15, random_state=seed, verbose=-1
        )

    def fit(self, X, y, simplex=()):
        self.m.fit(X, y)
        return self

    def predict(self, X):
        return self.m.predict(X), None


def model_for(name, X, y, simplex, seed):
    if name == "lightgbm-default":
        return DefaultLightGBM(seed).fit(X, y)
    return regressors.fit(name, X, y, simplex, seed, with_sd=False)


def splits(swarm):
    by = {}
    for i, run in enumerate(swarm.ids):
        by.setdefault(run.split(":")[0], []).append(i)
    return {k: np.array(v) for k, v in by.items()}


def targets(swarm, smoke):
    names = list(swarm.metrics)
    swarm = swarm.with_metric("mean", metric_mean(swarm, names))
    chosen = (names[:2] + ["mean"]) if smoke else (names + ["mean"])
    return swarm, chosen


def scores(pred, actual):
    span = float(np.ptp(actual))
    return regressors.spearman(pred, actual), fitting.regret_at_1(pred, actual) / span


def fit_rows(swarm, parts, target, name, n, seed):
    pool = parts["train_1m"]
    idx = np.sort(np.random.RandomState(seed).choice(pool, n, replace=False))
    y = swarm.metrics[target]
    simplex = list(range(len(swarm.columns)))
    t = time.time()
    model = model_for(name, swarm.weights[idx], y[idx], simplex, seed)
    row = {"kind": "fit", "target": target, "regressor": name, "n": n, "seed": seed}
    for split, key in (("test_1m", "1m"), ("test_60m", "60m"), ("test_1B", "1b")):
        rows = parts[split]
        rho, regret = scores(model.predict(swarm.weights[rows])[0], y[rows])
        row[f"spearman_{key}"] = rho
        if key == "1b":
            row["regret_1b_share"] = regret
    row["seconds"] = round(time.time() - t, 3)
    return row


def select_rows(swarm, parts, target, n, seed):
    pool = parts["train_1m"]
    X, y = swarm.weights[pool], swarm.metrics[target][pool]
    simplex = list(range(len(swarm.columns)))
    out = []
    for method in SELECT_METHODS:
        t = time.time()
        chosen = np.asarray(fitting.select(X, y, n, method, simplex, "min", seed))
        model = regressors.fit("gp", X[chosen], y[chosen], simplex, seed, with_sd=False)
        rows = parts["test_1B"]
        rho, regret = scores(model.predict(swarm.weights[rows])[0], swarm.metrics[target][rows])
        out.append(
            {
                "kind": "select",
                "target": target,
                "method": method,
                "n": n,
                "seed": seed,
                "best_found_1m": float(y[chosen].min()),
                "spearman_1b": rho,
                "regret_1b_share": regret,
                "seconds": round(time.time() - t, 3),
            }
        )
    return out


def measure(smoke: bool, seeds: int):
    swarm = read(SwarmSpec((DATA,)))
    swarm, names = targets(swarm, smoke)
    parts = splits(swarm)
    ns = (32,) if smoke else NS
    points = []
    for target in names:
        for name in REGRESSORS:
            for n in ns:
                for seed in range(seeds):
                    points.append(fit_rows(swarm, parts, target, name, n, seed))
        for n in (16,) if smoke else SELECT_NS:
            for seed in range(min(seeds, 3)):
                points.extend(select_rows(swarm, parts, target, n, seed))
        print(f"{target}: done", file=sys.stderr, flush=True)
    return points


def _mean(xs):
    xs = [x for x in xs if x is not None and x == x]
    return round(float(np.mean(xs)), 4) if xs else None


def summarise(points: list[dict]) -> dict:
    """Everything the docs show, from the per-point rows alone."""
    fits = [p for p in points if p["kind"] == "fit"]
    sel = [p for p in points if p["kind"] == "select"]
    regs = sorted({p["regressor"] for p in fits}, key=REGRESSORS.index)
    ns = sorted({p["n"] for p in fits})
    tnames = list(dict.fromkeys(p["target"] for p in fits))
    table = {}
    for r in regs:
        for n in ns:
            rows = [p for p in fits if p["regressor"] == r and p["n"] == n]
            per_target = {
                t: _mean([p["spearman_1b"] for p in rows if p["target"] == t]) for t in tnames
            }
            losses = [t for t in tnames if t != "mean"]
            table.setdefault(r, {})[str(n)] = {
                "spearman_1m": _mean([p["spearman_1m"] for p in rows if p["target"] in losses]),
                "spearman_60m": _mean([p["spearman_60m"] for p in rows if p["target"] in losses]),
                "spearman_1b": _mean([p["spearman_1b"] for p in rows if p["target"] in losses]),
                "regret_1b_share": _mean(
                    [p["regret_1b_share"] for p in rows if p["target"] in losses]
                ),
                "seeds": len({p["seed"] for p in rows}),
                "spearman_1b_by_target": per_target,
                "regret_1b_share_by_target": {
                    t: _mean([p["regret_1b_share"] for p in rows if p["target"] == t])
                    for t in tnames
                },
                "seconds_per_fit": _mean([p["seconds"] for p in rows]),
            }
    selection = {}
    for n in sorted({p["n"] for p in sel}):
        for m in SELECT_METHODS:
            rows = [p for p in sel if p["n"] == n and p["method"] == m and p["target"] != "mean"]
            if rows:
                selection.setdefault(str(n), {})[m] = {
                    "spearman_1b": _mean([p["spearman_1b"] for p in rows]),
                    "regret_1b_share": _mean([p["regret_1b_share"] for p in rows]),
                    "seeds": len({p["seed"] for p in rows}),
                }
    return {
        "data": "RegMix (sail-sg/regmix data/, MIT): fit on 1M train runs; score 256 held-out 1M, "
        "the same 256 at 60M, 64 other mixtures at 1B",
        "targets": tnames,
        "means_over": "the 13 loss targets (the 'mean' target is listed apart, by target)",
        "anchor_off_the_shelf_lightgbm": ANCHOR,
        "by_regressor": table,
        "selection": selection,
    }


def markdown(summary: dict) -> str:
    rows = [
        "| regressor | N 1M runs | Spearman 1M (held out) | Spearman 60M | Spearman 1B | "
        "regret@1 at 1B (share of range) | seeds | s / fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r, by_n in summary["by_regressor"].items():
        for n, c in by_n.items():
            rows.append(
                f"| {r} | {n} | {c['spearman_1m']} | {c['spearman_60m']} | {c['spearman_1b']} | "
                f"{100 * c['regret_1b_share']:.1f}% | {c['seeds']} | {c['seconds_per_fit']} |"
            )
    tnames = summary["targets"]
    regs = list(summary["by_regressor"])
    cols = [(r, n) for n in ("64", "512") for r in regs if n in summary["by_regressor"][r]]
    if not cols:  # the smoke size
        cols = [(r, next(iter(summary["by_regressor"][r]))) for r in regs]
    per = [
        "| target | " + " | ".join(f"{r} @{n}" for r, n in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for t in tnames:
        cells = []
        for r, n in cols:
            c = summary["by_regressor"][r][n]
            spear, regret = c["spearman_1b_by_target"][t], c["regret_1b_share_by_target"][t]
            cells.append(f"{spear} / {100 * regret:.1f}%")
        per.append(f"| {t} | " + " | ".join(cells) + " |")
    sel = [
        "| N | method | Spearman 1B of a GP fit on the chosen runs | regret@1 at 1B | seeds |",
        "|---|---|---|---|---|",
    ]
    for n, by_m in summary["selection"].items():
        for m, c in by_m.items():
            sel.append(
                f"| {n} | {m} | {c['spearman_1b']} | {100 * c['regret_1b_share']:.1f}% | "
                f"{c['seeds']} |"
            )
    return (
        "\n".join(
            [
                "### Mean over the 13 targets",
                *rows,
                "",
                "### Per target (Spearman at 1B / regret)",
                *per,
                "",
                "### Pool-based selection vs a random draw (mean over the 13 targets)",
                *sel,
            ]
        )
        + "\n"
    )


def plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for r, by_n in summary["by_regressor"].items():
        ns = [int(n) for n in by_n]
        ax.plot(ns, [by_n[str(n)]["spearman_1b"] for n in ns], marker="o", label=r)
    for n, a in ANCHOR.items():
        ax.scatter([int(n)], [a["spearman_1b"]], marker="x", color="k")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("1M runs fitted (N)")
    ax.set_ylabel("Spearman at 1B (mean of 13 targets)")
    ax.set_title("RegMix swarm: ranking the 64 1B mixtures (x: issue's anchor)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(points: list[dict], out: str, with_points: bool = True) -> dict:
    os.makedirs(out, exist_ok=True)
    summary = summarise(points)
    if with_points:
        with open(os.path.join(out, "swarm_fit_points.jsonl"), "w") as f:
            for p in points:
                f.write(json.dumps(p) + "\n")
    with open(os.path.join(out, "swarm_fit.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "swarm_fit_table.md"), "w") as f:
        f.write(markdown(summary))
    plot(summary, os.path.join(out, "swarm_fit.png"))
    return summary


def read_points(folder: str) -> list[dict]:
    with open(os.path.join(folder, "swarm_fit_points.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="1 seed, N = 32, 3 targets (CI)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default=DOCS)
    ap.add_argument("--from-points", action="store_true", help="recompute from the rows in --out")
    args = ap.parse_args(argv)
    if args.from_points:
        summary = write(read_points(args.out), args.out, with_points=False)
    else:
        summary = write(measure(args.smoke, 1 if args.smoke else args.seeds), args.out)
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
