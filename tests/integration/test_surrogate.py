"""Surrogate fit/predict on synthetic landscapes with a known front (milliseconds to seconds)."""

import numpy as np
import optuna
import pytest

from codemix_search.core.ranking import hypervolume, pareto_front
from codemix_search.search.surrogate import (
    Surrogate,
    SurrogateSampler,
    choose,
    encode,
    fit_mixing_law,
)


def landscape(x):
    """Two objectives (both max) over x in [0, 1]^2; the front is x1 = 1, x0 in [0, 1]."""
    return [x[0] * x[1], (1 - x[0] ** 2) * x[1]]


def test_gp_predicts_a_smooth_landscape_with_honest_uncertainty():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 2))
    Y = np.array([landscape(x) for x in X])
    model = Surrogate(0).fit(X, Y)
    T = rng.uniform(size=(200, 2))
    mean, std = model.predict(T)
    truth = np.array([landscape(x) for x in T])
    assert np.abs(mean - truth).mean() < 0.03
    far_mean, far_std = model.predict([[5.0, 5.0]])  # far outside the data: unsure
    assert far_std.min() > 3 * std.mean()


def test_predicted_front_matches_the_known_front():
    rng = np.random.RandomState(1)
    X = rng.uniform(size=(40, 2))
    model = Surrogate(0).fit(X, [landscape(x) for x in X])
    grid = np.array([[a, b] for a in np.linspace(0, 1, 21) for b in np.linspace(0, 1, 21)])
    mean, _ = model.predict(grid)
    front = pareto_front(mean.tolist(), ["max", "max"])
    # The true front is x1 = 1: predicted non-dominated points sit at the top edge.
    assert np.mean(grid[front, 1] >= 0.9) >= 0.8


def test_choose_prefers_the_candidate_that_extends_the_front():
    X = np.array([[0.1, 0.5], [0.5, 0.5], [0.9, 0.5], [0.5, 0.1]])
    model = Surrogate(0).fit(X, [landscape(x) for x in X])
    measured = [landscape(x) for x in X]
    cands = [[0.5, 0.05], [0.5, 0.95]]  # the second lies toward the true front
    assert choose(model, measured, cands, ["max", "max"]) == 1


def test_encode_scales_and_one_hots():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    d = {
        "a": FloatDistribution(0, 2),
        "lr": FloatDistribution(1e-4, 1e-2, log=True),
        "init": CategoricalDistribution(["text", "code"]),
    }
    assert encode({"a": 1.0, "lr": 1e-3, "init": "code"}, d) == pytest.approx([0.5, 0, 1, 0.5])


def test_mixing_law_recovers_its_parameters():
    rng = np.random.RandomState(0)
    W = rng.dirichlet([1, 1, 1], size=40)
    y = 2.0 + 0.5 * np.exp(W @ np.array([1.0, -2.0, 0.5]))
    c, k, t = fit_mixing_law(W, y)
    pred = c + k * np.exp(W @ np.array(t))
    assert np.abs(pred - y).max() < 1e-3


def _run(sampler, n=24):
    study = optuna.create_study(directions=["maximize", "maximize"], sampler=sampler)
    study.optimize(
        lambda t: landscape([t.suggest_float("x0", 0, 1), t.suggest_float("x1", 0, 1)]), n
    )
    values = [t.values for t in study.trials]
    return hypervolume(values, ["max", "max"], [0.0, 0.0])


def test_surrogate_sampler_beats_random_on_the_known_landscape():
    # True hypervolume of the front {(x, 1 - x^2)} above (0, 0): integral of 1 - x^2 = 2/3.
    sur = [_run(SurrogateSampler(seed=s, n_startup_trials=6, n_candidates=128)) for s in range(3)]
    rnd = [_run(optuna.samplers.RandomSampler(seed=s)) for s in range(3)]
    assert np.mean(sur) > np.mean(rnd)
    assert np.mean(sur) > 0.9 * (2 / 3)


def test_predict_command_on_a_written_run(tmp_path):
    import json
    import random
    import subprocess
    import sys

    import yaml

    from codemix_search.config.load import load_space
    from codemix_search.core.records import TrialRecord
    from tests.helpers import REPO, TINY

    space = load_space(TINY)
    rng = random.Random(0)
    records = []
    for i in range(10):
        cfg = space.sample(rng)
        x = cfg["code_fraction"]
        records.append(
            {
                "trial_id": f"t{i}",
                "status": "finished",
                "config": cfg,
                "mixture_id": space.mixture(cfg).id,
                "objectives": {"nl_reasoning": 0.5 - 0.3 * x * x, "code": 0.1 + 0.4 * x},
            }
        )
    records.append({"trial_id": "p", "status": "pruned", "config": space.sample(rng)})
    run = tmp_path / "run"
    run.mkdir()
    (run / "space.yaml").write_text(yaml.safe_dump(space.to_dict()))
    rows = [TrialRecord(**r).to_dict() for r in records]  # records.jsonl's schema
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", "predict", str(run), "--candidates", "200"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["trained_on"] == 10 and result["predicted_front"]
    assert all(
        "±" in line for line in out.stdout.splitlines()[1 : 1 + len(result["predicted_front"])]
    )
    # A 1-D trade-off in code_fraction: the predicted front spans it, with small LOO error.
    assert max(result["loo_mean_abs_error"].values()) < 0.05
    xs = [p["config"]["code_fraction"] for p in result["predicted_front"]]
    assert min(xs) < 0.2 and max(xs) > 0.8
    few = run.parent / "few"
    few.mkdir()
    (few / "space.yaml").write_text(yaml.safe_dump(space.to_dict()))
    (few / "records.jsonl").write_text(json.dumps(rows[0]) + "\n")
    bad = subprocess.run(
        [sys.executable, "-m", "codemix_search", "predict", str(few)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "at least 3" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
