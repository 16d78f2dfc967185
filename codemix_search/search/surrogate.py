"""Surrogate-guided search: fit a model per objective on finished trials, predict the Pareto
front over many candidate mixtures, train only the most promising ones (predict, then verify).

RegMix and the Data-Mixing Laws fit a surrogate for ONE objective; here one Gaussian process per
objective (scikit-learn: Matern 5/2 with a length scale per input, plus a noise term; targets
standardised) over the trial's searched parameters, scaled to [0, 1] (log where the parameter is
log-scaled; categoricals one-hot). For the shares parametrisation those parameters map one-to-one
onto the mixture simplex. The Data-Mixing-Law form, loss = c + k·exp(t·w) per objective, is the
``law`` option (``fit_mixing_law``), for one objective of one weight vector.

Two entry points:
- ``SurrogateSampler``: an Optuna sampler (``sampler: surrogate`` in a space). Random for the first
  ``n_startup_trials``; then it scores ``n_candidates`` random candidates by the hypervolume they
  would add to the measured front at their optimistic prediction (mean + kappa·std toward each
  objective's good side) and proposes the best; when none adds volume, the most uncertain one.
- ``codemix_search predict RUN``: the predicted front with uncertainty over candidate mixtures, and
  where it disagrees with the measured one (leave-one-out).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from codemix_search.core.ranking import default_reference, hypervolume, pareto_front

# --- encoding ------------------------------------------------------------------------------


def encode(params: Mapping, distributions: Mapping) -> list[float]:
    """Optuna params -> features in [0, 1] (one-hot for categoricals), in sorted name order."""
    # imported here, not at the top: Optuna: 0.2 s, with its samplers more
    from optuna.distributions import CategoricalDistribution

    x: list[float] = []
    for name in sorted(distributions):
        d, v = distributions[name], params[name]
        if isinstance(d, CategoricalDistribution):
            x += [1.0 if c == v else 0.0 for c in d.choices]
            continue
        lo, hi = float(d.low), float(d.high)
        if getattr(d, "log", False):
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        x.append(0.5 if hi == lo else (float(v) - lo) / (hi - lo))
    return x


def random_params(distributions: Mapping, rng: np.random.RandomState) -> dict:
    # imported here, not at the top: Optuna: 0.2 s, with its samplers more
    from optuna.distributions import CategoricalDistribution, IntDistribution

    out = {}
    for name in sorted(distributions):
        d = distributions[name]
        if isinstance(d, CategoricalDistribution):
            out[name] = d.choices[rng.randint(len(d.choices))]
            continue
        lo, hi = float(d.low), float(d.high)
        if getattr(d, "log", False):
            v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            v = rng.uniform(lo, hi)
        if isinstance(d, IntDistribution):
            v = int(min(d.high, max(d.low, round(v))))
        out[name] = v
    return out


# --- the model ------------------------------------------------------------------------------


class Surrogate:
    """One Gaussian process per objective."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.models: list = []

    def fit(self, X: Sequence[Sequence[float]], Y: Sequence[Sequence[float]]) -> Surrogate:
        # imported here, not at the top: scikit-learn: 1.2 s
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        X, Y = np.asarray(X, float), np.asarray(Y, float)
        d = X.shape[1]
        self.models = []
        for k in range(Y.shape[1]):
            kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
                length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
            ) + WhiteKernel(1e-3, (1e-8, 1e-1))
            gp = GaussianProcessRegressor(
                kernel=kernel, normalize_y=True, n_restarts_optimizer=2, random_state=self.seed
            )
            with warnings.catch_warnings():
                # Few points: the optimiser often stops at a bound; the fit is still usable.
                warnings.simplefilter("ignore", ConvergenceWarning)
                gp.fit(X, Y[:, k])
            self.models.append(gp)
        return self

    def predict(self, X: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, float)
        out = [gp.predict(X, return_std=True) for gp in self.models]
        return np.stack([m for m, _ in out], 1), np.stack([s for _, s in out], 1)


def fit_mixing_law(w: Sequence[Sequence[float]], y: Sequence[float]) -> tuple[float, float, list]:
    """Data-Mixing-Law form y = c + k·exp(t·w) fitted by least squares; returns (c, k, t)."""
    # imported here, not at the top: scipy.stats: 0.8 s
    from scipy.optimize import least_squares

    W, y = np.asarray(w, float), np.asarray(y, float)

    def resid(p):
        return p[0] + p[1] * np.exp(W @ p[2:]) - y

    p0 = np.concatenate([[y.min()], [max(y.max() - y.min(), 1e-3)], np.zeros(W.shape[1])])
    sol = least_squares(resid, p0)
    return float(sol.x[0]), float(sol.x[1]), sol.x[2:].tolist()


def hv_gain(point: Sequence[float], front: list[list[float]], modes, ref) -> float:
    return hypervolume([*front, list(point)], modes, ref) - hypervolume(front, modes, ref)


def choose(
    model: Surrogate,
    measured: list[list[float]],
    candidates: list[list[float]],
    modes: Sequence[str],
    kappa: float = 1.0,
) -> int:
    """Index of the candidate whose optimistic prediction adds the most hypervolume to the
    measured front; the most uncertain one when none adds any (pure exploration)."""
    mean, std = model.predict(candidates)
    sign = np.array([1.0 if m == "max" else -1.0 for m in modes])
    optimistic = mean + kappa * std * sign
    front = [measured[i] for i in pareto_front(measured, modes)]
    ref = default_reference(measured, modes)
    gains = [hv_gain(p, front, modes, ref) for p in optimistic.tolist()]
    best = int(np.argmax(gains))
    if gains[best] > 0:
        return best
    scale = np.asarray(measured).std(0) + 1e-12
    return int(np.argmax((std / scale).sum(1)))


# --- as an Optuna sampler --------------------------------------------------------------------


def _sampler_base():
    # imported here, not at the top: Optuna: 0.2 s, with its samplers more
    from optuna.samplers import BaseSampler

    return BaseSampler


class SurrogateSampler(_sampler_base()):
    """Optuna sampler: random start, then GP-predicted hypervolume gain (see module doc)."""

    def __init__(
        self,
        seed: int | None = None,
        n_startup_trials: int = 6,
        n_candidates: int = 256,
        kappa: float = 1.0,
    ):
        # imported here, not at the top: Optuna: 0.2 s, with its samplers more
        from optuna.samplers import RandomSampler

        self._random = RandomSampler(seed=seed)
        self._rng = np.random.RandomState(seed)
        self.seed = seed or 0
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self.kappa = kappa

    def reseed_rng(self) -> None:
        self._random.reseed_rng()
        self._rng = np.random.RandomState()

    def infer_relative_search_space(self, study, trial):
        # imported here, not at the top: Optuna: 0.2 s, with its samplers more
        from optuna.search_space import intersection_search_space

        space = intersection_search_space(study.get_trials(deepcopy=False))
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(self, study, trial, search_space):
        # imported here, not at the top: Optuna: 0.2 s, with its samplers more
        from optuna.trial import TrialState

        if not search_space:
            return {}
        done = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if all(n in t.params for n in search_space) and t.values is not None
        ]
        if len(done) < self.n_startup_trials:
            return {}
        modes = ["max" if d.name == "MAXIMIZE" else "min" for d in study.directions]
        X = [encode(t.params, search_space) for t in done]
        Y = [list(t.values) for t in done]
        model = Surrogate(self.seed).fit(X, Y)
        cands = [random_params(search_space, self._rng) for _ in range(self.n_candidates)]
        best = choose(model, Y, [encode(c, search_space) for c in cands], modes, self.kappa)
        return cands[best]

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._random.sample_independent(study, trial, param_name, param_distribution)


# --- predict a finished run -------------------------------------------------------------------
