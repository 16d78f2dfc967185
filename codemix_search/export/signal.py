"""Can the run's objectives tell its mixtures apart? Signal, noise, SNR, a verdict calibrated
against pure noise, and the minimum detectable difference per objective (core/noise.py has the
definitions).

Noise of one trial's value of an objective, what a rerun would show:
- seed: the pooled std of the run's own seed replicas (finished trials with the same mixture and
  settings but ``seed_offset``), else of a ``codemix_search calibrate`` run on the same storage
  whose model, data, tokens, evaluation and objectives are this run's (found by a fingerprint,
  and named); else "seed noise not measured" and no "ranks mixtures" verdict;
- items: the median, over pairs of finished trials, of the paired standard error of their
  difference on the same eval items (``trials/<id>/items.json``), divided by sqrt(2).
noise = sqrt(seed^2 + items^2) with the seed estimate's dof; SNR = (max - min over trials) / noise;
verdict: SNR above the 95% studentized-range quantile for that many trials and dof; MDD = 2.8 x
sqrt(2) x noise. The checkpoint spread (``trials/<id>/noise.json``, the last k checkpoints, 2%
of training apart) is shown, not counted: those checkpoints sit at the end of a cooldown that
anneals the learning rate to 0 (0.002-0.013 BPB on the demo, below item noise).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import posixpath
import statistics

from codemix_search.config.space import SearchSpace
from codemix_search.core import noise
from codemix_search.core.records import TrialRecord
from codemix_search.core.suites import suite_for
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout, TrialLayout

MAX_PAIRS = 45  # all pairs of 10 trials; a larger run samples its pairs evenly
CALIBRATION = "calibration.json"


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


def _digest(obj, length: int) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[
        :length
    ]


def fingerprint(space: SearchSpace) -> str:
    """What makes seed noise transferable between two runs: model, tokens and every training
    setting, the data, the eval items and the objectives (not the mixtures, sampler or budget)."""
    d = space.to_dict()
    key = {
        "training": {k: v for k, v in d["training"].items() if k != "seed_offset"},
        "data": d["data"],
        "evaluation": {k: d["evaluation"].get(k) for k in ("suite", "limit", "task_limits")},
        "objectives": d["objectives"],
    }
    return _digest(key, 16)


def find_calibration(run: Folder, space: SearchSpace) -> tuple[str, dict] | None:
    """(folder URI, calibration.json) of a calibrate run beside this one with the same
    fingerprint; None when there is none."""
    want = fingerprint(space)
    storage = Folder(posixpath.dirname(run.uri.rstrip("/")))
    for name in storage.listdir():
        sibling = storage.child(name)
        if sibling.uri == run.uri or not sibling.exists(CALIBRATION):
            continue
        try:
            cal = sibling.read_json(CALIBRATION)
        except ValueError:
            continue  # a damaged calibration is no evidence
        if isinstance(cal, dict) and cal.get("fingerprint") == want:
            return sibling.uri, cal
    return None


def replica_groups(finished: list[TrialRecord], name: str) -> dict[str, list[float]]:
    """The run's own seed replicas of an objective: values of trials whose settings differ only
    in ``seed_offset``."""
    groups: dict[str, list[float]] = {}
    for r in finished:
        if name in r.objectives:
            settings = {k: v for k, v in r.config.items() if k != "seed_offset"}
            key = f"{r.mixture_id}/{_digest(settings, 8)}"  # the mixture and every setting
            groups.setdefault(key, []).append(r.objectives[name])
    return {k: v for k, v in groups.items() if len(v) >= 2}


def seed_noise(
    finished: list[TrialRecord], name: str, calibration
) -> tuple[float | None, float | None, str | None]:
    """(std, dof, where it came from)."""
    groups = replica_groups(finished, name)
    if groups:
        dof = sum(len(v) - 1 for v in groups.values())
        return noise.pooled_std(groups), dof, f"this run's replicas ({len(groups)} mixtures)"
    if calibration is not None:
        uri, cal = calibration
        t = (cal.get("objectives") or {}).get(name) or {}
        if t.get("seed_noise") is not None:
            dof = t.get("seed_df") or (t.get("replicas", 0) - t.get("mixtures", 0)) or None
            return t["seed_noise"], dof, f"calibration {uri}"
    return None, None, None


def signal_table(records: list[TrialRecord], space: SearchSpace, run: Folder) -> dict:
    """{objective: {signal, seed_noise, item_noise, noise, snr, threshold, mdd, verdict, ...}}."""
    finished = [r for r in records if r.finished and r.objectives]
    items = {r.trial_id: _read(run, r.trial_id, TrialLayout.ITEMS) for r in finished}
    ckpts = {r.trial_id: _read(run, r.trial_id, TrialLayout.NOISE) for r in finished}
    pairs = list(itertools.combinations([r.trial_id for r in finished], 2))
    if len(pairs) > MAX_PAIRS:
        pairs = pairs[:: math.ceil(len(pairs) / MAX_PAIRS)]
    calibration = find_calibration(run, space)
    out = {}
    for o in space.objectives:
        values = [r.objectives[o.name] for r in finished if o.name in r.objectives]
        stds = [s for t in ckpts.values() if (s := noise.checkpoint_std(t.get(o.key, [])))]
        parts = _task_metric(space, o)
        ses = [
            se
            for a, b in pairs
            if parts and (se := paired_se(items[a], items[b], parts)) is not None
        ]
        item = statistics.median(ses) / math.sqrt(2) if ses else None
        seed, seed_df, source = seed_noise(finished, o.name, calibration)
        sigma, df = noise.combined_noise(seed, seed_df, item)
        snr_value = noise.snr(values, sigma)
        out[o.name] = {
            "metric": o.metric,
            "trials": len(values),
            "signal": (max(values) - min(values)) if len(values) >= 2 else None,
            "seed_noise": seed,
            "seed_df": seed_df,
            "seed_source": source,
            "item_noise": item,
            "checkpoint_spread": statistics.median(stds) if stds else None,
            "noise": sigma,
            "noise_df": df,
            "snr": snr_value,
            "threshold": noise.range_threshold(len(values), df) if len(values) >= 2 else None,
            "mdd": noise.mdd(math.sqrt(2) * sigma) if sigma is not None else None,
            "verdict": noise.verdict(snr_value, len(values), df, seed is not None),
        }
    return out


def tied_members(front: list[TrialRecord], space: SearchSpace, table: dict) -> dict[str, list[str]]:
    """{front trial: the front trials it is statistically tied with (no objective's difference
    exceeds 1.96 standard errors of a difference, seed noise included; an objective without
    seed noise ties nothing)}."""
    names = space.metric_names
    points = [[r.objectives[n] for n in names] for r in front]
    sigmas = [
        table.get(n, {}).get("noise") if table.get(n, {}).get("seed_noise") is not None else None
        for n in names
    ]
    ties = noise.ties(points, sigmas)
    return {r.trial_id: [front[j].trial_id for j in ties[k]] for k, r in enumerate(front)}


def markdown(table: dict) -> str:
    rows = [
        "## Can the objectives tell mixtures apart?\n",
        "Noise = seed and item noise in quadrature (what a rerun would show); the verdict tests "
        "the SNR against what pure noise reaches in 5% of runs with as many trials (threshold). "
        "The checkpoint spread is measured inside the annealed cooldown and not counted.\n",
        "| objective | metric | trials | signal (max-min) | seed noise (source) | item noise | "
        "noise | SNR | threshold | min. detectable difference | checkpoint spread | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(v):
        return "-" if v is None else f"{v:.4g}"

    for name, t in table.items():
        seed = f(t["seed_noise"]) + (
            f" ({t['seed_source']}, {t['seed_df']:g} dof)" if t["seed_source"] else ""
        )
        rows.append(
            f"| {name} | {t['metric']} | {t['trials']} | {f(t['signal'])} | {seed} | "
            f"{f(t['item_noise'])} | {f(t['noise'])} | {f(t['snr'])} | {f(t['threshold'])} | "
            f"{f(t['mdd'])} | {f(t['checkpoint_spread'])} | {t['verdict']} |"
        )
    return "\n".join(rows) + "\n"
