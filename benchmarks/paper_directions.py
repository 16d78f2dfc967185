"""The paper's directions on a recorded grid: does the demo landscape move the way
Aryabumi et al. (2024) found, and by how much beyond its noise?

From a grid run (search_spaces/bench_grid.yaml: code fraction x cooldown code fraction x init,
every point trained to the end), per objective (a category's gold BPB, lower is better):

- code fraction: the slope of the objective on the code fraction, the other two knobs held as
  fixed effects (ordinary least squares; 95% t interval from its standard error);
- a lot of code hurts world knowledge: 75-100% code minus 0-25% code, paired within each
  (cooldown, init) cell, mean and 95% t interval over the cells;
- ~20% code in the cooldown: cooldown code 0.2 minus 0.0, paired within each (code fraction,
  init) cell;
- the init: balanced minus text, paired within each (code fraction, cooldown) cell.

Each next to the paper's sign (BPB: negative = better). An interval that contains 0 says
"not resolved at this scale", not "no effect"::

    python benchmarks/paper_directions.py --grid-run runs/bench-grid --out docs/paper_directions
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# The paper's findings as signs on a BPB objective (negative = that change lowers BPB, better);
# None where the paper reports no clear direction for that category.
PAPER = {
    "code_fraction_slope": {
        "code": (-1, "more code, better code (12x code performance vs text-only)"),
        "world_knowledge": (1, "75-100% code hurts world knowledge"),
    },
    "lots_of_code": {
        "world_knowledge": (1, "75-100% code hurts world knowledge (-31%, -86%)"),
        "nl_reasoning": (1, "100% code: -18% NL reasoning (peak near 25% code)"),
        "code": (-1, "more code, better code"),
    },
    "cooldown_20pct": {
        "nl_reasoning": (-1, "cooldown with code +3.6% NL; without code no NL gain"),
        "world_knowledge": (-1, "cooldown with code: +10.1% world knowledge"),
        "code": (-1, "cooldown with code: +20% code"),
    },
    "balanced_init": {
        "nl_reasoning": (-1, "Balanced -> Text: +8.2% NL (best recipe; init matters)"),
        "code": (-1, "code in the init lifts code (12x vs text-only)"),
    },
}


def load_points(uri: str):
    """(space, rows) from a grid run folder or its committed per-point file."""
    from benchmarks.grid_points import load

    space, points = load(uri)
    rows = [{**p["config"], **p["objectives"], "base": p.get("base") or "one"} for p in points]
    return space, rows


def p_value(estimate: float, se: float, dof: int) -> float:
    """Two-sided p of a t test of estimate = 0."""
    if not dof or not se or se != se:
        return float("nan")
    return float(2 * stats.t.sf(abs(estimate / se), dof))


def t_interval(values) -> dict:
    v = np.asarray(values, dtype=float)
    n = len(v)
    mean = float(v.mean())
    se = float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * se) if n > 1 else float("nan")
    return {
        "estimate": mean, "low": mean - half, "high": mean + half, "n": n, "se": se,
        "p": p_value(mean, se, n - 1),
    }  # fmt: skip


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment: the k-th smallest of m p-values times (m - k + 1), made
    monotone, capped at 1 (family-wise error 5% across the whole table)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: (pvalues[i] != pvalues[i], pvalues[i]))
    out, running = [float("nan")] * m, 0.0
    for k, i in enumerate(order):
        if pvalues[i] != pvalues[i]:
            continue
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        out[i] = running
    return out


def slope(rows, name: str) -> dict:
    """OLS of the objective on code fraction with cooldown and init as fixed effects."""
    ccf = sorted({r["cooldown_code_fraction"] for r in rows})
    inits = sorted({str(r["init"]) for r in rows})
    X, y = [], []
    for r in rows:
        x = [1.0, float(r["code_fraction"])]
        x += [float(r["cooldown_code_fraction"] == c) for c in ccf[1:]]
        x += [float(str(r["init"]) == i) for i in inits[1:]]
        X.append(x)
        y.append(r[name])
    X, y = np.array(X), np.array(y)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = len(y) - X.shape[1]
    resid = y - X @ beta
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    se = float(np.sqrt(cov[1, 1]))
    half = float(stats.t.ppf(0.975, dof) * se)
    b = float(beta[1])
    return {
        "estimate": b, "low": b - half, "high": b + half, "n": len(y), "se": se,
        "p": p_value(b, se, dof),
    }  # fmt: skip


def paired(rows, name: str, key: str, high, low, cell_keys) -> dict:
    """Mean over cells of (objective at ``key`` in ``high``) - (at ``key`` in ``low``)."""
    cells: dict[tuple, dict[str, list]] = {}
    for r in rows:
        cell = tuple(r[k] for k in cell_keys)
        side = "high" if r[key] in high else "low" if r[key] in low else None
        if side:
            cells.setdefault(cell, {"high": [], "low": []})[side].append(r[name])
    diffs = [
        np.mean(c["high"]) - np.mean(c["low"]) for c in cells.values() if c["high"] and c["low"]
    ]
    return t_interval(diffs)


def directions(rows, names) -> dict:
    out = {}
    for name in names:
        out[name] = {
            "code_fraction_slope": slope(rows, name),
            "lots_of_code": paired(
                rows, name, "code_fraction", {0.75, 1.0}, {0.0, 0.25},
                ("cooldown_code_fraction", "init"),
            ),
            "cooldown_20pct": paired(
                rows, name, "cooldown_code_fraction", {0.2}, {0.0}, ("code_fraction", "init")
            ),
            "balanced_init": paired(
                rows, name, "init", {"balanced"}, {"text"},
                ("code_fraction", "cooldown_code_fraction"),
            ),
        }  # fmt: skip
    return out


EFFECTS = {
    "code_fraction_slope": "code fraction 0 -> 1 (slope)",
    "lots_of_code": "75-100% code minus 0-25% code",
    "cooldown_20pct": "cooldown code 20% minus 0%",
    "balanced_init": "balanced init minus text init",
}


def verdict(ci: dict, paper_sign: int | None) -> str:
    """The effect's verdict; with ``p_holm`` (set over the whole table) an effect must also
    survive Holm's correction; an init effect needs >= 2 bases per init (``bases``)."""
    if ci.get("bases", 2) < 2:
        return "not resolved: one base per init (n = 1, base-to-base variance not measured)"
    if ci["low"] <= 0 <= ci["high"]:
        return "not resolved (interval holds 0)"
    if ci.get("p_holm", 0.0) >= 0.05:
        return "not resolved after Holm's correction"
    sign = 1 if ci["estimate"] > 0 else -1
    if paper_sign is None:
        return "resolved; the paper gives no sign"
    return "agrees with the paper" if sign == paper_sign else "DISAGREES with the paper"


def markdown(result: dict, args) -> str:
    lines = [
        "# The paper's directions on the demo landscape\n",
        f"Made by `python benchmarks/paper_directions.py --grid-run {args.grid_run}` over the "
        f"{result['points']} finished points of the grid (demo model, ~1.1M parameters, 100 "
        "steps of continued pretraining from the text or balanced base; objectives are each "
        "category's gold bits per byte, lower is better, so a negative change is an "
        "improvement). Intervals: 95% t intervals (the slope's from its OLS standard error; "
        "paired differences over the grid cells that hold the other knobs fixed); p values "
        "Holm-adjusted across the whole table; the init effect needs two or more bases per "
        "init (one base is n = 1 whatever the number of cells).\n",
        "| objective | change | estimate [95% CI] | cells | Holm p | paper | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, effects in result["directions"].items():
        for effect, ci in effects.items():
            sign, claim = PAPER.get(effect, {}).get(name, (None, "-"))
            lines.append(
                f"| {name} | {EFFECTS[effect]} | {ci['estimate']:+.4f} "
                f"[{ci['low']:+.4f}, {ci['high']:+.4f}] | {ci['n']} | "
                f"{ci.get('p_holm', float('nan')):.3g} | {claim} | {verdict(ci, sign)} |"
            )
    return "\n".join(lines) + "\n"


def bases_per_init(rows) -> int:
    """Fewest distinct bases behind one init (a row's ``base``: the base checkpoint it
    continued from; rows without it count one base per init)."""
    by_init: dict[str, set] = {}
    for r in rows:
        by_init.setdefault(str(r["init"]), set()).add(r.get("base", "one"))
    return min((len(v) for v in by_init.values()), default=0)


def judge(table: dict, bases: int) -> None:
    """Holm-adjusted p over every interval of the table, then each verdict (in place)."""
    cis = [ci for effects in table.values() for ci in effects.values()]
    for ci, p in zip(cis, holm([ci["p"] for ci in cis]), strict=True):
        ci["p_holm"] = p
    for name, effects in table.items():
        effects["balanced_init"]["bases"] = bases
        for effect, ci in effects.items():
            ci["verdict"] = verdict(ci, PAPER.get(effect, {}).get(name, (None, ""))[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-run", default="runs/bench-grid")
    ap.add_argument("--out", default="docs/paper_directions")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the committed grid points; --out to a temp folder (CI)",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.grid_run = "docs/bench_grid_points.jsonl"
        args.out = os.path.join(tempfile.mkdtemp(prefix="cm-directions-"), "paper_directions")
    space, rows = load_points(args.grid_run)
    result = {"grid_run": args.grid_run, "points": len(rows),
              "directions": directions(rows, space.metric_names)}  # fmt: skip
    judge(result["directions"], bases_per_init(rows))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    text = markdown(result, args)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
