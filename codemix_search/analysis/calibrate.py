"""``codemix_search calibrate --space S [--mixtures K] [--seeds N]``: before a search, measure
whether its objectives can tell mixtures apart at its scale.

Trains K reference mixtures (the baseline, the space's ``points_to_evaluate``, then seeded
random draws) N times each with different seeds (``training.seed_offset``: real retrainings;
only identical settings are reused), all to the end, through the normal pipeline (so the run
folder, report and ledger are a run's). Then per objective: the mixtures' means over seeds, the
seed noise (within-mixture std pooled over mixtures), signal = max - min of the means,
SNR = signal / seed noise, and the minimum detectable difference between two single runs,
written to ``<run>/calibration.json`` and ``calibration.md`` and printed.
"""

from __future__ import annotations

import math
import random
import statistics

import yaml

from codemix_search.core import noise
from codemix_search.core.records import TrialRecord
from codemix_search.export.signal import replica_groups


def reference_points(space, k: int) -> list[dict]:
    """K mixtures: the baseline, the space's points_to_evaluate, then seeded random draws
    (searched parameters only; fixed ones stay fixed)."""
    searched = [p for p in space.parameters if p.type != "fixed" and p.name != "seed_offset"]
    rng = random.Random(space.seed)
    points: list[dict] = []
    for p in space.initial_points:
        full = {q.name: q.sample(rng) for q in searched} | dict(p)
        if full not in points:
            points.append(full)
    while len(points) < k:
        draw = {q.name: q.sample(rng) for q in searched}
        if draw.get("synthetic_share", 0) + draw.get("commit_share", 0) <= 1:
            points.append(draw)
    return points[:k]


def calibration_space(space, k: int, n: int) -> dict:
    """The raw space that trains K mixtures x N seeds to the end."""
    raw = yaml.safe_load(yaml.safe_dump(space.to_dict()))  # plain lists, as from a file
    points = [{**p, "seed_offset": s} for p in reference_points(space, k) for s in range(n)]
    raw["name"] = f"{space.name}-calibration"
    raw["parameters"]["seed_offset"] = {"type": "categorical", "choices": list(range(n))}
    raw["points_to_evaluate"] = points
    raw["budget"] = {**raw["budget"], "samples": len(points)}
    raw["early_stopping"] = {**raw["early_stopping"], "scheduler": "none"}
    raw["evaluation"] = {**raw["evaluation"], "run_baseline": False}
    raw["sampler"] = "random"
    return raw


def seed_table(records: list[TrialRecord], space) -> dict:
    """{objective: {means, seed_noise, signal, snr, mdd, verdict}} from finished replicas."""
    finished = [r for r in records if r.finished and r.objectives]
    # Replicas are trials whose settings differ only in seed_offset: the mixture id alone
    # would pool two inits of one mixture (a grid's text and balanced points) as "seeds".
    groups = {o.name: replica_groups(finished, o.name) for o in space.objectives}
    out = {}
    for name, by_mixture in groups.items():
        means = {m: statistics.fmean(v) for m, v in by_mixture.items()}
        sigma = noise.pooled_std(by_mixture)
        snr = noise.snr(list(means.values()), sigma)
        dof = sum(len(v) - 1 for v in by_mixture.values())
        # The verdict tests the means, each over r replicas: their noise is sigma / sqrt(r).
        r = min((len(v) for v in by_mixture.values()), default=1)
        out[name] = {
            "mixtures": len(means),
            "replicas": sum(len(v) for v in by_mixture.values()),
            "means": means,
            "signal": (max(means.values()) - min(means.values())) if len(means) >= 2 else None,
            "seed_noise": sigma,
            "seed_df": dof,
            "snr": snr,
            "mdd": noise.mdd(math.sqrt(2) * sigma) if sigma is not None else None,
            "verdict": noise.verdict(
                None if snr is None else snr * math.sqrt(r), len(means), dof or noise.EXACT_DF
            ),
        }
    return out


def markdown(table: dict, k: int, n: int) -> str:
    def f(v):
        return "-" if v is None else f"{v:.4g}"

    rows = [
        f"# Calibration: {k} mixtures x {n} seeds\n",
        "| objective | mixtures | replicas | signal (max-min of means) | seed noise | SNR | "
        "min. detectable difference | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in table.items():
        rows.append(
            f"| {name} | {t['mixtures']} | {t['replicas']} | {f(t['signal'])} | "
            f"{f(t['seed_noise'])} | {f(t['snr'])} | {f(t['mdd'])} | {t['verdict']} |"
        )
    return "\n".join(rows) + "\n"
