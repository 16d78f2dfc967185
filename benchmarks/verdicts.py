"""The report's verdicts before and after the noise and test were fixed, from the noise
components each run measured (docs/verdict_inputs.json, each number with its source; the bench
grid's from its committed per-point and meta files when present).

Before: noise = checkpoint + item (quadrature), "ranks mixtures" at SNR >= 3.
After: noise = seed + item (what a rerun shows; the checkpoint spread sits inside the annealed
cooldown), "ranks mixtures" when the SNR beats the 95% studentized-range quantile for that many
trials and the seed estimate's dof (core/noise.py).

    python benchmarks/verdicts.py      # writes docs/verdicts.md
"""

from __future__ import annotations

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codemix_search.core import noise  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


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
        })  # fmt: skip
    return out


def markdown(inputs: dict) -> str:
    lines = ["# Verdicts before and after (made by `python benchmarks/verdicts.py`)\n"]
    for label, case in inputs.items():
        lines += [
            f"## {label}: {case['trials']} trials, seed noise with {case.get('seed_df')} dof\n",
            f"Source: {case['source']}\n",
            "| objective | signal | checkpoint | item | seed | SNR before | verdict before | "
            "SNR after | threshold (5% null) | verdict after |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows(case):
            lines.append(
                f"| {r['objective']} | {r['signal']:.4g} | {r['checkpoint']:.4g} | "
                f"{r['item']:.4g} | {r.get('seed', float('nan')):.4g} | {r['snr_before']:.1f} | "
                f"{r['verdict_before']} | {r['snr_after']:.1f} | {r['threshold_after']:.2f} | "
                f"{r['verdict_after']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    with open(os.path.join(DOCS, "verdict_inputs.json")) as f:
        inputs = json.load(f)
    text = markdown(inputs)
    with open(os.path.join(DOCS, "verdicts.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
