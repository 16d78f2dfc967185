"""``codemix_search predict RUN``: fit the surrogate on a finished run, predict the front over
candidate mixtures with uncertainty, and where it disagrees with the measured one (leave-one-out).
"""

from __future__ import annotations

import random

import numpy as np

from codemix_search.core.ranking import pareto_front
from codemix_search.core.records import TrialRecord
from codemix_search.search.optuna_params import distributions
from codemix_search.search.surrogate import Surrogate, encode


def predict_run(records: list[TrialRecord], space, n_candidates: int = 512, seed: int = 0) -> dict:
    """Fit on the run's finished trials; predict the front over random candidates; compare the
    measured front with leave-one-out predictions."""
    dists = distributions(space)
    names, modes = space.metric_names, space.modes
    done = [r for r in records if r.finished]
    if len(done) < 3:
        raise ValueError(f"{len(done)} finished trials; the surrogate needs at least 3")
    X = [encode(r.config, dists) for r in done]
    Y = [[r.objectives[n] for n in names] for r in done]
    model = Surrogate(seed).fit(X, Y)
    rng = random.Random(seed)
    cands = [space.sample(rng) for _ in range(n_candidates)]
    mean, std = model.predict([encode(c, dists) for c in cands])
    front = pareto_front(mean.tolist(), modes)
    predicted = [
        {
            "config": {k: cands[i][k] for k in dists},
            "mixture_id": space.mixture(cands[i]).id,
            "predicted": dict(zip(names, mean[i].round(5).tolist(), strict=True)),
            "std": dict(zip(names, std[i].round(5).tolist(), strict=True)),
        }
        for i in front
    ]
    # Leave-one-out: would the model have put each measured trial where it really is?
    loo_mean = []
    for i in range(len(done)):
        rest = [j for j in range(len(done)) if j != i]
        m, _ = Surrogate(seed).fit([X[j] for j in rest], [Y[j] for j in rest]).predict([X[i]])
        loo_mean.append(m[0].tolist())
    measured_front = set(pareto_front(Y, modes))
    loo_front = set(pareto_front(loo_mean, modes))
    disagree = [
        {
            "trial_id": done[i].trial_id,
            "measured_front": i in measured_front,
            "predicted_front": i in loo_front,
            "measured": dict(zip(names, Y[i], strict=True)),
            "predicted": dict(zip(names, np.round(loo_mean[i], 5).tolist(), strict=True)),
        }
        for i in range(len(done))
        if (i in measured_front) != (i in loo_front)
    ]
    errors = np.abs(np.asarray(loo_mean) - np.asarray(Y)).mean(0)
    return {
        "trained_on": len(done),
        "candidates": n_candidates,
        "predicted_front": predicted,
        "loo_mean_abs_error": dict(zip(names, errors.round(5).tolist(), strict=True)),
        "disagreements": disagree,
    }
