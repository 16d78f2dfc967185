"""The report's verdicts before and after the noise and test were fixed, from the noise
components each run measured (docs/verdict_inputs.json, each number with its source; the bench
grid's from its committed per-point and meta files when present).

Before: noise = checkpoint + item (quadrature), "ranks mixtures" at SNR >= 3.
After: noise = seed + item (what a rerun shows; the checkpoint spread sits inside the annealed
cooldown), "ranks mixtures" when the SNR beats the 95% studentized-range quantile for that many
trials and the seed estimate's dof (core/noise.py).

    python benchmarks/verdicts.py      # writes docs/verdicts.md

The bench grid's case is built from its committed files (docs/bench_grid_points.jsonl and
_meta.json: the grid run's values and its report's noise components, seed noise from the
calibrate run beside it) and checks itself: an objective called "ranks mixtures" must order the
calibrated mixtures alike in both seed replicas (decision accuracy, docs/
bench_grid_calibration_points.jsonl).
"""

from __future__ import annotations

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.core import noise  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def grid_case(points_path: str, calibration_path: str | None) -> dict:
    """The verdicts' inputs from a grid's committed per-point and meta files."""
    from benchmarks.grid_points import read
    from codemix_search.analysis.transfer import decision_accuracy

    info, points = read(points_path)
    signal = info.get("signal") or {}
    replicas: dict[str, dict[int, dict]] = {}
    if calibration_path and os.path.exists(calibration_path):
        for p in read(calibration_path)[1]:
            offset = int(p["config"].get("seed_offset", 0))
            settings = {k: v for k, v in p["config"].items() if k != "seed_offset"}
            key = json.dumps(settings, sort_keys=True, default=str)  # mixture, init, knobs
            replicas.setdefault(key, {})[offset] = p["objectives"]
    pairs = [r for r in replicas.values() if 0 in r and 1 in r]
    out = {}
    for name, sig in signal.items():
        values = [p["objectives"][name] for p in points if name in p["objectives"]]
        out[name] = {
            "signal": max(values) - min(values),
            "checkpoint": sig.get("checkpoint_spread") or 0.0,
            "item": sig.get("item_noise") or 0.0,
            "seed": sig.get("seed_noise"),
        }
        if len(pairs) >= 3:
            out[name]["replica_decision_accuracy"] = decision_accuracy(
                [r[0][name] for r in pairs], [r[1][name] for r in pairs]
            )
    dfs = [s.get("seed_df") for s in signal.values() if s.get("seed_df")]
    return {
        "source": f"{os.path.relpath(points_path, DOCS)} (+ _meta.json: the run's report) and "
        f"{len(pairs)} mixtures x 2 seeds of calibrate",
        "trials": len(points),
        "seed_df": dfs[0] if dfs else None,
        "replica_mixtures": len(pairs),
        "objectives": out,
    }


def rows(case: dict) -> list[dict]:
    out = []
    for name, c in case["objectives"].items():
        before_sd = math.hypot(c["checkpoint"], c["item"])
        after_sd, df = noise.combined_noise(c.get("seed"), case.get("seed_df"), c["item"])
        snr_before = c["signal"] / before_sd
        snr_after = c["signal"] / after_sd
        out.append({
            "objective": name, **c, "snr_before": snr_before,
            "verdict_before": "ranks mixtures" if snr_before >= 3 else "noise",
            "snr_after": snr_after,
            "threshold_after": noise.range_threshold(case["trials"], df),
            "verdict_after": noise.verdict(snr_after, case["trials"], df, c.get("seed") is not None)
            .split(":")[0],
            "replica_decision_accuracy": c.get("replica_decision_accuracy"),
        })  # fmt: skip
    return out


def markdown(inputs: dict) -> str:
    lines = ["# Verdicts before and after (made by `python benchmarks/verdicts.py`)\n"]
    for label, case in inputs.items():
        lines += [
            f"## {label}: {case['trials']} trials, seed noise with {case.get('seed_df')} dof\n",
            f"Source: {case['source']}\n",
            "| objective | signal | checkpoint | item | seed | SNR before | verdict before | "
            "SNR after | threshold (5% null) | verdict after | decision accuracy between seed "
            "replicas |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows(case):
            acc = r["replica_decision_accuracy"]
            seed = r.get("seed")
            lines.append(
                f"| {r['objective']} | {r['signal']:.4g} | {r['checkpoint']:.4g} | "
                f"{r['item']:.4g} | {'-' if seed is None else f'{seed:.4g}'} | "
                f"{r['snr_before']:.1f} | {r['verdict_before']} | {r['snr_after']:.1f} | "
                f"{r['threshold_after']:.2f} | {r['verdict_after']} | "
                f"{'-' if acc is None else f'{acc:.2f}'} |"
            )
        lines.append("")
    return "\n".join(lines)


def inputs() -> dict:
    with open(os.path.join(DOCS, "verdict_inputs.json")) as f:
        out = json.load(f)
    grid = os.path.join(DOCS, "bench_grid_points.jsonl")
    if os.path.exists(grid):
        cal = os.path.join(DOCS, "bench_grid_calibration_points.jsonl")
        out["bench grid"] = grid_case(grid, cal)
    return out


def main() -> int:
    inputs_ = inputs()
    text = markdown(inputs_)
    if "--smoke" not in sys.argv[1:]:  # CI: computed and printed, docs/ left as committed
        with open(os.path.join(DOCS, "verdicts.md"), "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
