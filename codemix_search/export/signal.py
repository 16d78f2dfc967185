"""Can the run's objectives tell its mixtures apart? Signal, noise, SNR and the minimum
detectable difference per objective, measured on the run's own finished trials (core/noise.py
has the definitions).

Noise of one trial's value of an objective, from two measured sources:
- checkpoint: the median, over finished trials, of the std of the objective at the trial's last
  k checkpoints (``trials/<id>/noise.json``; points 2% of training apart at the end);
- items: the median, over pairs of finished trials, of the paired standard error of their
  difference on the same eval items (``trials/<id>/items.json``), divided by sqrt(2).
noise = sqrt(checkpoint^2 + items^2); SNR = (max - min over trials) / noise; MDD = 2.8 x sqrt(2)
x noise (the difference of two values, each that noisy, found 80% of the time at 5%).
"""

from __future__ import annotations

import itertools
import math
import statistics

from codemix_search.config.space import SearchSpace
from codemix_search.core import noise
from codemix_search.evaluate.registry import suite_for
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout, TrialLayout

MAX_PAIRS = 45  # all pairs of 10 trials; a larger run samples its pairs evenly


def _read(run: Folder, trial_id: str, name: str) -> dict:
    folder = RunLayout(run).trial(trial_id).folder
    try:
        return folder.read_json(name)
    except FileNotFoundError:
        return {}


def _task_metric(space: SearchSpace, objective) -> list[tuple[str, str, float]]:
    """(task, item metric, weight) whose per-item values make up the objective."""
    suite = suite_for(space.evaluation)
    if objective.category:
        return [
            (t.name, t.metric_for(objective.metric), t.weight)
            for t in suite.tasks_for(objective.category, objective.metric)
        ]
    if objective.task:
        metric = objective.key.rsplit("/", 1)[1]
        return [(objective.task, metric, 1.0)]
    return []


def paired_se(items_a: dict, items_b: dict, parts: list[tuple[str, str, float]]) -> float | None:
    """SE of the objective's difference between two trials scored on the same items."""
    ses, weights = [], []
    for task, metric, w in parts:
        a = (items_a.get(task) or {}).get(metric)
        b = (items_b.get(task) or {}).get(metric)
        if not a or not b or len(a) != len(b):
            return None
        if metric == "gold_bpb":
            bits_a = [-x[0] / math.log(2) for x in a]
            bits_b = [-x[0] / math.log(2) for x in b]
            ses.append(noise.paired_se_bpb(bits_a, bits_b, [x[1] for x in a]))
        else:
            ses.append(noise.paired_se_mean(a, b))
        weights.append(w)
    return noise.combine_se(ses, weights) if ses else None


def signal_table(records: list[dict], space: SearchSpace, run: Folder) -> dict:
    """{objective: {signal, checkpoint_noise, item_noise, noise, snr, mdd, verdict, trials}}."""
    finished = [r for r in records if r["status"] == "finished" and r.get("objectives")]
    items = {r["trial_id"]: _read(run, r["trial_id"], TrialLayout.ITEMS) for r in finished}
    ckpts = {r["trial_id"]: _read(run, r["trial_id"], TrialLayout.NOISE) for r in finished}
    pairs = list(itertools.combinations([r["trial_id"] for r in finished], 2))
    if len(pairs) > MAX_PAIRS:
        pairs = pairs[:: math.ceil(len(pairs) / MAX_PAIRS)]
    out = {}
    for o in space.objectives:
        values = [r["objectives"][o.name] for r in finished if o.name in r["objectives"]]
        stds = [s for t in ckpts.values() if (s := noise.checkpoint_std(t.get(o.key, [])))]
        parts = _task_metric(space, o)
        ses = [
            se
            for a, b in pairs
            if parts and (se := paired_se(items[a], items[b], parts)) is not None
        ]
        c = statistics.median(stds) if stds else None
        i = statistics.median(ses) / math.sqrt(2) if ses else None
        known = [x for x in (c, i) if x is not None]
        sigma = math.sqrt(sum(x * x for x in known)) if known else None
        snr_value = noise.snr(values, sigma)
        out[o.name] = {
            "metric": o.metric,
            "trials": len(values),
            "signal": (max(values) - min(values)) if len(values) >= 2 else None,
            "checkpoint_noise": c,
            "item_noise": i,
            "noise": sigma,
            "snr": snr_value,
            "mdd": noise.mdd(math.sqrt(2) * sigma) if sigma is not None else None,
            "verdict": noise.verdict(snr_value),
        }
    return out


def tied_members(front: list[dict], space: SearchSpace, table: dict) -> dict[str, list[str]]:
    """{front trial: the front trials it is statistically tied with (within the MDD on every
    objective)}."""
    names = space.metric_names
    points = [[r["objectives"][n] for n in names] for r in front]
    mdds = [table.get(n, {}).get("mdd") for n in names]
    ties = noise.ties(points, mdds)
    return {r["trial_id"]: [front[j]["trial_id"] for j in ties[k]] for k, r in enumerate(front)}


def markdown(table: dict) -> str:
    rows = [
        "## Can the objectives tell mixtures apart?\n",
        "| objective | metric | trials | signal (max-min) | checkpoint noise | item noise | SNR | "
        "min. detectable difference | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def f(v):
        return "-" if v is None else f"{v:.4g}"

    for name, t in table.items():
        rows.append(
            f"| {name} | {t['metric']} | {t['trials']} | {f(t['signal'])} | "
            f"{f(t['checkpoint_noise'])} | {f(t['item_noise'])} | {f(t['snr'])} | "
            f"{f(t['mdd'])} | {t['verdict']} |"
        )
    return "\n".join(rows) + "\n"
