"""Regressors from mixture weights to one metric, each with a predictive sd.

- ``lightgbm``: gradient-boosted trees, what RegMix and Nemotron-CLIMB fit (RegMix's published
  settings: 1,000 trees, learning rate 0.05, 15 leaves). Its sd is the spread of 5 models fit
  on bootstrap resamples of the runs.
- ``gp``: a Gaussian process on log(weight + 1e-3) per simplex column (one-hot columns as they
  are), Matern 3/2 with one length scale per column plus a noise term. Log weights because a
  domain's loss moves with the log of its share (10% -> 20% matters as much as 1% -> 2%); on
  RegMix's runs (64 1M runs -> the 64 1B mixtures, mean of 13 targets) it ranked at Spearman
  0.940 where the same GP on raw weights (Matern 5/2) gave 0.93 and LightGBM 0.68.
- ``loglinear``: the Data Mixing Laws form, metric = c + exp(b + t . w) (Olmix's default family),
  fit by least squares with a small ridge on t; sd from 8 bootstrap refits.
- ``auto``: the one with the best out-of-fold Spearman on the runs it is given.

All take and return numpy arrays; ``fit(name, X, y, blocks, seed)`` returns a fitted model with
``predict(X) -> (mean, sd)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

REGRESSORS = ("lightgbm", "gp", "loglinear")
LOG_FLOOR = 1e-3  # RegMix's smallest non-zero weight is 1e-3: below it a domain is absent
FOLDS = 5


def _log_features(X: np.ndarray, simplex: Sequence[int]) -> np.ndarray:
    F = np.array(X, float, copy=True)
    if len(simplex):
        F[:, simplex] = np.log(np.clip(F[:, simplex], 0, None) + LOG_FLOOR)
    return F


class LightGBM:
    name = "lightgbm"

    def __init__(self, seed: int = 0, bags: int = 5):
        self.seed, self.bags = seed, bags

    def _one(self, X, y, seed):
        # imported here, not at the top: LightGBM: 1.3 s
        import lightgbm as lgb

        m = lgb.LGBMRegressor(
            n_estimators=1000,
            learning_rate=0.05,
            num_leaves=15,
            random_state=seed,
            verbose=-1,
            min_child_samples=max(2, min(20, len(y) // 10)),  # 20 (the default) on 64 runs
            # leaves ~3 splits a tree: 0.68 Spearman at 1B on RegMix, 0.90 with 6
        )
        return m.fit(X, y)

    def fit(self, X, y, simplex=()):
        rng = np.random.RandomState(self.seed)
        self.full = self._one(X, y, self.seed)
        self.boot = [
            self._one(X[i], y[i], self.seed + k + 1)
            for k in range(self.bags)
            for i in [rng.randint(0, len(y), len(y))]
        ]
        return self

    def predict(self, X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = self.full.predict(X)
            spread = np.std([m.predict(X) for m in self.boot], axis=0) if self.boot else 0 * mean
        return mean, spread


class GP:
    name = "gp"

    def __init__(self, seed: int = 0, kernel=None):
        self.seed, self.kernel = seed, kernel

    def fit(self, X, y, simplex=()):
        # imported here, not at the top: scikit-learn: 1.2 s
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        self.simplex = list(simplex)
        F = _log_features(X, self.simplex)
        self.mu, self.sd = F.mean(0), F.std(0) + 1e-9
        kernel = self.kernel or ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(F.shape[1], 3.0), length_scale_bounds=(1e-1, 1e3), nu=1.5
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        self.model = GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=True,
            # a second start costs 22 s at 512 runs (one fit: ~11 s); it pays below 256
            n_restarts_optimizer=1 if self.kernel is None and len(y) <= 256 else 0,
            optimizer=None if self.kernel is not None else "fmin_l_bfgs_b",
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bounds reached on irrelevant columns: expected
            self.model.fit((F - self.mu) / self.sd, y)
        return self

    @property
    def fitted_kernel(self):
        return self.model.kernel_

    def predict(self, X):
        F = (_log_features(X, self.simplex) - self.mu) / self.sd
        mean, sd = self.model.predict(F, return_std=True)
        return mean, sd


class LogLinear:
    name = "loglinear"

    def __init__(self, seed: int = 0, bags: int = 8, ridge: float = 1e-3):
        self.seed, self.bags, self.ridge = seed, bags, ridge

    def _one(self, X, y):
        # imported here, not at the top: scipy.stats: 0.8 s
        from scipy.optimize import least_squares

        lo = float(y.min())
        span = float(y.max() - lo) or 1.0
        d = X.shape[1]

        def resid(p):
            c, b, t = p[0], p[1], p[2:]
            fit = c + np.exp(np.clip(b + X @ t, -50, 50))
            return np.concatenate([(fit - y) / span, math.sqrt(self.ridge) * t])

        # c below every observed value: the irreducible part of the loss
        p0 = np.concatenate([[lo - 0.5 * span, math.log(0.5 * span + 1e-12)], np.zeros(d)])
        bounds = (
            np.concatenate([[-np.inf, -np.inf], np.full(d, -np.inf)]),
            np.concatenate([[lo - 1e-9, np.inf], np.full(d, np.inf)]),
        )
        return least_squares(resid, p0, bounds=bounds, max_nfev=2000).x

    def fit(self, X, y, simplex=()):
        rng = np.random.RandomState(self.seed)
        self.params = [self._one(X, y)] + [
            self._one(X[i], y[i])
            for _ in range(self.bags)
            for i in [rng.randint(0, len(y), len(y))]
        ]
        return self

    def predict(self, X):
        preds = [p[0] + np.exp(np.clip(p[1] + X @ p[2:], -50, 50)) for p in self.params]
        return preds[0], np.std(preds[1:], axis=0) if len(preds) > 1 else 0 * preds[0]


def build(name: str, seed: int = 0, with_sd: bool = True):
    """A regressor; ``with_sd=False`` skips the bootstrap refits that only give the sd."""
    if name == "gp":
        return GP(seed)
    return {"lightgbm": LightGBM, "loglinear": LogLinear}[name](seed, bags=5 if with_sd else 0)


def fit(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    simplex: Sequence[int] = (),
    seed: int = 0,
    with_sd: bool = True,
):
    return build(name, seed, with_sd).fit(np.asarray(X, float), np.asarray(y, float), simplex)


def folds(n: int, seed: int, k: int = FOLDS) -> list[np.ndarray]:
    """k shuffled folds of range(n) (seeded)."""
    order = np.random.RandomState(seed).permutation(n)
    return [order[i::k] for i in range(min(k, n))]


def out_of_fold(name: str, X, y, simplex=(), seed: int = 0, k: int = FOLDS) -> np.ndarray:
    """Each run's prediction from a model fit without its fold."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    pred = np.empty(len(y))
    for test in folds(len(y), seed, k):
        train = np.setdiff1d(np.arange(len(y)), test)
        pred[test] = fit(name, X[train], y[train], simplex, seed, False).predict(X[test])[0]
    return pred


def spearman(pred, actual) -> float:
    """Spearman's rho; NaN where either side is constant (a GP that predicts one value ranks
    nothing: reported, never counted as a tie)."""
    pred, actual = np.asarray(pred, float), np.asarray(actual, float)
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(actual) == 0:
        return math.nan
    return float(spearmanr(pred, actual)[0])


def choose(X, y, simplex=(), seed: int = 0, names: Sequence[str] = REGRESSORS) -> tuple[str, dict]:
    """``auto``: the regressor with the highest out-of-fold Spearman (ties: listed order)."""
    scores = {n: spearman(out_of_fold(n, X, y, simplex, seed), y) for n in names}
    best = max(names, key=lambda n: -math.inf if math.isnan(scores[n]) else scores[n])
    return best, scores
