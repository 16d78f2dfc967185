"""Scale transfer: do mixtures rank the same at two model sizes?

Olmix found small proxies rank mixtures unreliably (1M parameters: rho = 0.73; >= 15M: rho > 0.89),
so a search at a small scale should be checked at a larger one before its recipes are trusted::

    # 1. the small search, as usual
    python codemix_search/run.py --space search_spaces/demo.yaml --name small
    # 2. the same finished mixtures at a larger model (a space file that replays them, no pruning)
    python -m codemix_search transfer runs/small --space-for proxy-15m > large.yaml
    python codemix_search/run.py --space large.yaml --name large
    # 3. rank correlation per objective, and whether the small Pareto set survives
    python -m codemix_search transfer runs/small runs/large

Trials are matched by mixture id plus init (what the mixture *is*), never by trial id. Per
objective: Spearman's rho and Kendall's tau with p-values (scipy), and the share of the small
scale's Pareto set that is on the large scale's front (over the matched mixtures).
"""

from __future__ import annotations

import json

import numpy as np

from codemix_search.core.ranking import pareto_front
from codemix_search.core.records import TrialRecord
from codemix_search.core.sizes import SIZES
from codemix_search.errors import ConfigError
from codemix_search.export.recipes import load_run
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def _key(record: TrialRecord) -> str:
    return f"{record.mixture_id}|{record.config.get('init', '')}"


def match(
    small: list[TrialRecord], large: list[TrialRecord]
) -> list[tuple[TrialRecord, TrialRecord]]:
    """Finished trials of the same mixture (and init) at both scales, in the small run's order."""
    big = {_key(r): r for r in large if r.finished}
    return [(r, big[_key(r)]) for r in small if r.finished and _key(r) in big]


def rank_correlations(a: list[float], b: list[float]) -> dict:
    """Spearman and Kendall between paired values (NaN when fewer than 3 pairs or constant)."""
    # imported here, not at the top: scipy.stats: 0.8 s
    from scipy import stats

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        nan = float("nan")
        return {"n": len(a), "spearman": nan, "spearman_p": nan, "kendall": nan, "kendall_p": nan}
    rho = stats.spearmanr(a, b)
    tau = stats.kendalltau(a, b)
    return {
        "n": len(a),
        "spearman": float(rho.statistic),
        "spearman_p": float(rho.pvalue),
        "kendall": float(tau.statistic),
        "kendall_p": float(tau.pvalue),
        "decision_accuracy": decision_accuracy(a, b),
        "ci95": bootstrap_intervals(a, b),
    }


def decision_accuracy(a: list[float], b: list[float]) -> float:
    """Share of mixture pairs ordered the same way at both scales (DataDecide's pairwise
    decision accuracy); pairs tied at either scale are left out."""
    agree = total = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 or db == 0:
                continue
            total += 1
            agree += (da > 0) == (db > 0)
    return agree / total if total else float("nan")


def bootstrap_intervals(a: list[float], b: list[float], resamples: int = 1000, seed: int = 0):
    """95% percentile intervals of Spearman, Kendall and decision accuracy, resampling the
    mixtures with replacement (what another draw of mixtures would have shown)."""
    # imported here, not at the top: scipy.stats: 0.8 s
    from scipy import stats

    rng = np.random.default_rng(seed)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    draws: dict[str, list[float]] = {"spearman": [], "kendall": [], "decision_accuracy": []}
    for _ in range(resamples):
        idx = rng.integers(0, len(x), len(x))
        xs, ys = x[idx], y[idx]
        if len(set(xs)) < 3 or len(set(ys)) < 3:
            continue
        draws["spearman"].append(stats.spearmanr(xs, ys).statistic)
        draws["kendall"].append(stats.kendalltau(xs, ys).statistic)
        draws["decision_accuracy"].append(decision_accuracy(list(xs), list(ys)))
    return {
        k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))] if v else None
        for k, v in draws.items()
    }


def front_survival(small: list[list[float]], large: list[list[float]], modes: list[str]) -> dict:
    """Of the small scale's non-dominated mixtures, how many are non-dominated at the large one."""
    fs, fl = set(pareto_front(small, modes)), set(pareto_front(large, modes))
    return {
        "small_front": sorted(fs),
        "large_front": sorted(fl),
        "survived": len(fs & fl) / len(fs) if fs else float("nan"),
        "jaccard": len(fs & fl) / len(fs | fl) if fs | fl else float("nan"),
    }


def compare(small: list[TrialRecord], large: list[TrialRecord], objectives: dict[str, str]) -> dict:
    pairs = match(small, large)
    names, modes = list(objectives), list(objectives.values())
    per = {
        n: rank_correlations(
            [p[0].objectives[n] for p in pairs], [p[1].objectives[n] for p in pairs]
        )
        for n in names
    }
    sv = [[p[0].objectives[n] for n in names] for p in pairs]
    lv = [[p[1].objectives[n] for n in names] for p in pairs]
    front = front_survival(sv, lv, modes) if pairs else None
    if front:
        front["small_front"] = [pairs[i][0].mixture_id for i in front["small_front"]]
        front["large_front"] = [pairs[i][1].mixture_id for i in front["large_front"]]
    return {"matched": len(pairs), "objectives": per, "front": front}


def read_run(uri: str) -> tuple[list[TrialRecord], dict]:

    run = Folder(uri)
    return load_run(run), run.read_yaml(RunLayout.SPACE)


def space_for(records: list[TrialRecord], space: dict, model: str) -> dict:
    """The small run's space at another model size, replaying its finished mixtures, unpruned."""
    if model not in SIZES:
        raise ConfigError("--space-for", "", f"unknown size {model!r}; allowed: {', '.join(SIZES)}")
    params = space.get("parameters") or {}
    searched = {
        k for k, v in params.items() if isinstance(v, dict) and v.get("type", "fixed") != "fixed"
    }
    points = [{k: v for k, v in r.config.items() if k in searched} for r in records if r.finished]
    if not points:
        raise ConfigError("--space-for", "", "the run has no finished trials to replay")
    out = json.loads(json.dumps(space))
    out["name"] = f"{space['name']}-{model}"
    out["training"]["model"] = model
    out["points_to_evaluate"] = points
    out["budget"]["samples"] = len(points)
    out["early_stopping"]["scheduler"] = "none"  # every replayed mixture must finish
    out["evaluation"]["run_baseline"] = False
    return out
