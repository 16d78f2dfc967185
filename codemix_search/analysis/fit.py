"""``codemix_search fit``: how well a regression over a swarm ranks mixtures, with its noise.

Out of fold (5 folds over the runs it fits): Spearman between predicted and measured, and
regret@1 (how much worse the run the model ranks first is than the best run), each with a 95%
bootstrap interval over runs. With a target size: the same on the runs at that size, predicted
by a model fit on the fit size (the transfer a user cares about), regret also as a share of the
target's range. ``select``: pool-based active selection (choose which N runs of the table to
"train", one after another, reading each result from the table) against a random draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from codemix_search.analysis import regressors
from codemix_search.analysis.swarm import MIN_RUNS, Swarm
from codemix_search.errors import ConfigError

BOOTSTRAP = 1000
SELECT_START = 8  # random runs before a selector has anything to learn from


def regret_at_1(pred, actual, mode: str = "min") -> float:
    """Measured value of the run ranked first by ``pred`` minus the best measured value (>= 0,
    in the metric's units; for ``max`` the other way round)."""
    pred, actual = np.asarray(pred, float), np.asarray(actual, float)
    sign = 1.0 if mode == "min" else -1.0
    pick = int(np.argmin(sign * pred))
    return float(sign * (actual[pick] - actual[np.argmin(sign * actual)]))


def bootstrap_ci(stat, pred, actual, seed: int = 0, n: int = BOOTSTRAP) -> list[float]:
    """95% percentile interval of ``stat(pred, actual)`` over runs resampled with replacement
    (resamples where the statistic is undefined are dropped)."""
    pred, actual = np.asarray(pred, float), np.asarray(actual, float)
    rng = np.random.RandomState(seed)
    vals = []
    for _ in range(n):
        i = rng.randint(0, len(pred), len(pred))
        v = stat(pred[i], actual[i])
        if not math.isnan(v):
            vals.append(v)
    if not vals:
        return [math.nan, math.nan]
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


@dataclass(frozen=True)
class Scores:
    """Spearman and regret@1 of predictions against measured values, with 95% intervals."""

    n: int
    spearman: float
    spearman_ci: list[float]
    regret_at_1: float
    regret_ci: list[float]
    regret_share_of_range: float

    @classmethod
    def of(cls, pred, actual, mode: str, seed: int = 0) -> Scores:
        actual = np.asarray(actual, float)
        span = float(np.ptp(actual)) or math.nan
        r = regret_at_1(pred, actual, mode)
        return cls(
            n=len(actual),
            spearman=regressors.spearman(pred, actual),
            spearman_ci=bootstrap_ci(regressors.spearman, pred, actual, seed),
            regret_at_1=r,
            regret_ci=bootstrap_ci(lambda p, a: regret_at_1(p, a, mode), pred, actual, seed),
            regret_share_of_range=r / span,
        )


@dataclass(frozen=True)
class FitReport:
    regressor: str
    objective: str
    mode: str
    fit_size: str
    n_train: int
    oof: Scores
    candidates: dict = field(default_factory=dict)  # auto: each regressor's OOF Spearman
    predict_size: str | None = None
    target: Scores | None = None
    train_rows: list[int] = field(default_factory=list)  # rows of the swarm it was fit on

    def to_json(self) -> dict:
        d = {
            "regressor": self.regressor,
            "objective": self.objective,
            "mode": self.mode,
            "fit_size": self.fit_size,
            "n_train": self.n_train,
            "oof_spearman": self.oof.spearman,
            "oof_spearman_ci": self.oof.spearman_ci,
            "oof_regret_at_1": self.oof.regret_at_1,
            "oof_regret_ci": self.oof.regret_ci,
            "oof_regret_share_of_range": self.oof.regret_share_of_range,
            "auto_candidates": self.candidates,
        }
        if self.target is not None:
            d |= {
                "predict_size": self.predict_size,
                "n_target": self.target.n,
                "target_spearman": self.target.spearman,
                "target_spearman_ci": self.target.spearman_ci,
                "target_regret_at_1": self.target.regret_at_1,
                "target_regret_ci": self.target.regret_ci,
                "target_regret_share_of_range": self.target.regret_share_of_range,
            }
        return d


def simplex_columns(swarm: Swarm) -> list[int]:
    return [j for b in swarm.blocks if not b.onehot for j in b.columns]


def measured(swarm: Swarm, idx: np.ndarray, objective: str, where: str) -> np.ndarray:
    """Rows of ``idx`` that measured ``objective``; at least MIN_RUNS of them."""
    y = swarm.metric(objective)[idx]
    keep = idx[np.isfinite(y)]
    if len(keep) < MIN_RUNS:
        raise ConfigError(
            where,
            "",
            f"{len(keep)} run(s) measured {objective!r} there; a fit needs at least "
            f"{MIN_RUNS}: add runs or pick another size",
        )
    return keep


def subsample(idx: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None:
        return idx
    if not MIN_RUNS <= n <= len(idx):
        raise ConfigError(
            "--n", "", f"{n}: choose between {MIN_RUNS} and the {len(idx)} runs at the fit size"
        )
    return np.sort(np.random.RandomState(seed).choice(idx, n, replace=False))


def fit_swarm(
    swarm: Swarm,
    objective: str,
    mode: str = "min",
    regressor: str = "auto",
    fit_size: str | None = None,
    predict_size: str | None = None,
    n: int | None = None,
    seed: int = 0,
) -> tuple[FitReport, object]:
    """The report and the model fit on every chosen fit-size run."""
    fit_idx = measured(swarm, swarm.size_index(fit_size), objective, "--fit-size")
    fit_idx = subsample(fit_idx, n, seed)
    X, y = swarm.weights[fit_idx], swarm.metrics[objective][fit_idx]
    simplex = simplex_columns(swarm)
    candidates = {}
    if regressor == "auto":
        regressor, candidates = regressors.choose(X, y, simplex, seed)
    oof = regressors.out_of_fold(regressor, X, y, simplex, seed)
    model = regressors.fit(regressor, X, y, simplex, seed)
    target = None
    if predict_size is not None:
        t_idx = measured(
            swarm, swarm.size_index(predict_size, "--predict-size"), objective, "--predict-size"
        )
        pred = model.predict(swarm.weights[t_idx])[0]
        target = Scores.of(pred, swarm.metrics[objective][t_idx], mode, seed)
        predict_size = swarm.sizes[t_idx[0]]
    size = swarm.sizes[fit_idx[0]]
    report = FitReport(
        regressor=regressor,
        objective=objective,
        mode=mode,
        fit_size=size,
        n_train=len(fit_idx),
        oof=Scores.of(oof, y, mode, seed),
        candidates=candidates,
        predict_size=predict_size,
        target=target,
        train_rows=fit_idx.tolist(),
    )
    return report, model


# --- pool-based active selection ------------------------------------------------------------


def _expected_improvement(mean, sd, best, mode):
    # imported here, not at the top: scipy.stats: 0.8 s
    from scipy.stats import norm

    sign = 1.0 if mode == "min" else -1.0
    gain = sign * (best - mean)
    sd = np.maximum(sd, 1e-12)
    z = gain / sd
    return gain * norm.cdf(z) + sd * norm.pdf(z)


def select(
    X: np.ndarray,
    y: np.ndarray,
    n: int,
    method: str,
    simplex: Sequence[int],
    mode: str = "min",
    seed: int = 0,
    refit_every: int = 8,
) -> list[int]:
    """Indices of ``n`` pool rows chosen one after another; each choice reads its ``y``.

    ``random``: a seeded draw. ``gp-ei``: the GP's expected improvement on the objective
    (finds good mixtures). ``gp-sd``: the GP's largest predictive sd (learns the surface
    everywhere). ``tpe``: Optuna's TPE proposes weights; the nearest unused pool row (L1) is
    trained. The first SELECT_START are the same random draw for every method. The GP's kernel
    is re-fitted every ``refit_every`` choices and kept fixed between (cost, not accuracy: a
    refit is ~0.3 s at 64 runs)."""
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(y))
    if method == "random" or n <= SELECT_START:
        return order[:n].tolist()
    chosen = order[:SELECT_START].tolist()
    if method == "tpe":
        return _select_tpe(X, y, n, chosen, mode, seed)
    kernel = None
    while len(chosen) < n:
        rest = np.setdiff1d(np.arange(len(y)), chosen)
        refit = kernel is None or (len(chosen) - SELECT_START) % refit_every == 0
        gp = regressors.GP(seed, None if refit else kernel).fit(X[chosen], y[chosen], simplex)
        kernel = gp.fitted_kernel
        mean, sd = gp.predict(X[rest])
        if method == "gp-ei":
            best = y[chosen].min() if mode == "min" else y[chosen].max()
            score = _expected_improvement(mean, sd, best, mode)
        elif method == "gp-sd":
            score = sd
        else:
            raise ValueError(f"unknown selection method {method!r}")
        chosen.append(int(rest[int(np.argmax(score))]))
    return chosen


def _select_tpe(X, y, n, chosen, mode, seed) -> list[int]:
    # imported here, not at the top: Optuna: 0.2 s, with its samplers more
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {f"x{j}": optuna.distributions.FloatDistribution(0.0, 1.0) for j in range(X.shape[1])}
    study = optuna.create_study(
        direction="minimize" if mode == "min" else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=0),
    )

    def record(i):
        params = {f"x{j}": float(X[i, j]) for j in range(X.shape[1])}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=float(y[i]))
        )

    for i in chosen:
        record(i)
    chosen = list(chosen)
    while len(chosen) < n:
        trial = study.ask(dists)
        want = np.array([trial.params[f"x{j}"] for j in range(X.shape[1])])
        want = want / (want.sum() or 1.0)
        rest = np.setdiff1d(np.arange(len(y)), chosen)
        pick = int(rest[np.argmin(np.abs(X[rest] - want).sum(1))])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # proposal, not what was trained
        record(pick)
        chosen.append(pick)
    return chosen
