"""Swarm-and-confirm between its stages (pure: numbers in, numbers out): fit each objective over
the proxies (analysis/fit.py's regressors), propose the configs to confirm at the larger size,
and hold the predictions against what the confirmations measured.

Proposals are configs of the space (not bare weights), drawn from the space itself, so any
parametrisation (hierarchical shares, Dirichlet, a searched init or knob) confirms as it is:
2,000 draws are scored by the fitted regressors; the first proposal is the preference's
predicted optimum (each objective in units of its range over the proxies, never raw BPB), the
others the predicted Pareto front ordered by an optimistic score (the preference less one
predicted sd per objective: uncertain points get their chance), at least 0.1 apart in L1 over
the mixture weights. Constraints (``ranking.preference.constraints``) filter on the predicted
means, a ``<= baseline`` one against the baseline's predicted value.

After stage 2 the small size serves as the prior of a one-parameter fidelity model: the larger
size's value = the proxy regression + a shift per objective, the shift the mean residual of the
confirmations (its standard error shown), so the refit's values are in the larger size's units.
A constant shift cannot reorder mixtures: whether the larger size orders them as the proxies
predicted is the Spearman of the confirmed points (3+ points; with 4, one swap of neighbours moves it by
0.2, so it is a check, not a measurement).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from codemix_search.analysis.fit import fit_swarm
from codemix_search.analysis.regressors import spearman
from codemix_search.analysis.swarm import Swarm
from codemix_search.core.ranking import pareto_front

CANDIDATES = 2000
DISTINCT_L1 = 0.1


@dataclass(frozen=True)
class Fitted:
    name: str
    mode: str
    model: object
    regressor: str
    oof_spearman: float
    scale: float
    """The measured range over the proxies: one preference unit."""


@dataclass
class Proposal:
    config: dict
    role: str  # "optimum" (the preference's), "front" or "baseline"
    predicted: dict = field(default_factory=dict)  # objective -> {"mean", "sd"}


def features(space, configs: Sequence[Mapping], columns: Sequence[str]) -> np.ndarray:
    """The swarm's columns (``<phase>/<source>``, ``init/<base>``) for configs of ``space``."""
    rows = []
    for c in configs:
        m = space.mixture(c).to_dict()
        init = str(c.get("init", space.training.init))
        row = []
        for col in columns:
            block, name = col.split("/", 1)
            row.append(float(init == name) if block == "init" else m[block].get(name, 0.0))
        rows.append(row)
    return np.asarray(rows, float).reshape(len(rows), len(columns))


def fit_objectives(space, swarm: Swarm, seed: int = 0, regressor: str = "auto") -> list[Fitted]:
    """One regression per objective (``auto``: the best out-of-fold of LightGBM, GP and
    log-linear, analysis/regressors.choose)."""
    out = []
    for o in space.objectives:
        report, model = fit_swarm(swarm, o.name, o.mode, regressor, None, None, None, seed)
        y = swarm.metrics[o.name][report.train_rows]
        out.append(Fitted(o.name, o.mode, model, report.regressor, report.oof.spearman,
                          float(np.ptp(y)) or 1.0))  # fmt: skip
    return out


def predict(fits: Sequence[Fitted], X: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {f.name: tuple(np.asarray(a, float) for a in f.model.predict(X)) for f in fits}


def _score(fits, preds, weights, optimistic: bool) -> np.ndarray:
    """Lower is better: sum of weight x (mode-signed mean, less one sd if optimistic) / range."""
    total = 0.0
    for f in fits:
        w = weights.get(f.name, 0.0)
        mean, sd = preds[f.name]
        signed = mean if f.mode == "min" else -mean
        total = total + w * (signed - (sd if optimistic else 0.0)) / f.scale
    return np.asarray(total, float)


def propose(space, swarm: Swarm, fits: Sequence[Fitted], k: int, seed: int = 0) -> list[Proposal]:
    rng = random.Random(seed)
    configs = [space.sample(rng) for _ in range(CANDIDATES)]
    X = features(space, configs, swarm.columns)
    preds = predict(fits, X)
    preference = space.preference
    weights = preference.weights_for(space.metric_names)
    base = dict(space.evaluation.baseline) or None
    base_pred = None
    if base:
        bp = predict(fits, features(space, [{**configs[0], **base}], swarm.columns))
        base_pred = {n: float(m[0]) for n, (m, _) in bp.items()}
    ok = np.array([
        preference.feasible({n: float(preds[n][0][i]) for n in preds}, base_pred)
        for i in range(len(configs))
    ])  # fmt: skip
    if not ok.any():  # no candidate predicted feasible: the least bad by the preference
        ok[:] = True
    score, hopeful = _score(fits, preds, weights, False), _score(fits, preds, weights, True)
    idx = np.flatnonzero(ok)
    order = [int(idx[np.argmin(score[idx])])]
    oriented = [[preds[f.name][0][i] for f in fits] for i in idx]
    front = [int(idx[j]) for j in pareto_front(oriented, [f.mode for f in fits])]
    rest = sorted(set(idx.tolist()) - set(front), key=lambda i: hopeful[i])
    for i in sorted(front, key=lambda i: hopeful[i]) + rest:
        if len(order) == k:
            break
        if all(np.abs(X[i] - X[j]).sum() >= DISTINCT_L1 for j in order):
            order.append(i)
    return [
        Proposal(
            config=configs[i],
            role="optimum" if n == 0 else "front",
            predicted={
                f: {"mean": float(preds[f][0][i]), "sd": float(preds[f][1][i])} for f in preds
            },
        )
        for n, i in enumerate(order)
    ]


def compare(space, swarm: Swarm, fits, proposals: Sequence[Proposal], measured: Sequence[dict]):
    """Predicted (at the proxy size) vs measured (at the space's size) for each confirmed
    point; per objective the shift, its standard error, Spearman (3+ points) and the refit's
    pick. ``measured``: [{"config", "objectives", "trial_id"}] of stage 2's finished trials."""
    searched = {p.name for p in space.parameters if p.type != "fixed"}

    def key(c):
        return tuple(sorted((k, c[k]) for k in searched if k in c))

    planned = {key(p.config): p for p in proposals}
    rows = []
    X = features(space, [m["config"] for m in measured], swarm.columns)
    preds = predict(fits, X) if len(X) else {}
    for i, m in enumerate(measured):
        p = planned.get(key(m["config"]))
        rows.append({
            "trial_id": m["trial_id"],
            "role": p.role if p else ("baseline" if space.is_baseline(m["config"]) else "other"),
            "config": {k: m["config"][k] for k in sorted(searched) if k in m["config"]},
            "predicted": {f.name: {"mean": float(preds[f.name][0][i]), "sd": float(preds[f.name][1][i])} for f in fits},
            "measured": {f.name: m["objectives"].get(f.name) for f in fits},
        })  # fmt: skip
    per_objective = {}
    for f in fits:
        pairs = [(r["predicted"][f.name]["mean"], r["measured"][f.name]) for r in rows
                 if r["measured"][f.name] is not None]  # fmt: skip
        pred = np.array([a for a, _ in pairs])
        meas = np.array([b for _, b in pairs])
        resid = meas - pred
        per_objective[f.name] = {
            "regressor": f.regressor,
            "oof_spearman_at_proxy_size": f.oof_spearman,
            "points": len(pairs),
            "shift": float(resid.mean()) if len(pairs) else None,
            "shift_se": float(resid.std(ddof=1) / np.sqrt(len(pairs))) if len(pairs) > 1 else None,
            "mean_abs_error_after_shift": float(np.abs(resid - resid.mean()).mean())
            if len(pairs)
            else None,
            "spearman": spearman(pred, meas) if len(pairs) >= 3 else None,
        }
    return {"points": rows, "objectives": per_objective}
