"""``codemix_search predict RUN``: fit the surrogate on a finished run, predict the front over
candidate mixtures with uncertainty, and where it disagrees with the measured one (leave-one-out).
"""

from __future__ import annotations

import json
import random

import numpy as np

from codemix_search.core.ranking import pareto_front
from codemix_search.search.params import distributions
from codemix_search.search.surrogate import Surrogate, encode


def predict_run(records: list[dict], space, n_candidates: int = 512, seed: int = 0) -> dict:
    """Fit on the run's finished trials; predict the front over random candidates; compare the
    measured front with leave-one-out predictions."""
    dists = distributions(space)
    names, modes = space.metric_names, space.modes
    done = [r for r in records if r["status"] == "finished"]
    if len(done) < 3:
        raise ValueError(f"{len(done)} finished trials; the surrogate needs at least 3")
    X = [encode(r["config"], dists) for r in done]
    Y = [[r["objectives"][n] for n in names] for r in done]
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
            "trial_id": done[i]["trial_id"],
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


def main(argv: list[str] | None = None) -> int:
    from codemix_search.config.load import load_space
    from codemix_search.errors import ConfigError, OneLineParser, number
    from codemix_search.export.recipes import load_run
    from codemix_search.storage.folder import Folder
    from codemix_search.storage.layout import RunLayout

    ap = OneLineParser(prog="codemix_search predict", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished run folder (fsspec URI)")
    # each candidate is a space sample and a prediction (~0.1 ms): 100,000 is ~10 s
    ap.add_argument("--candidates", type=number(int, 1, 100_000), default=512)
    ap.add_argument("--seed", type=number(int, 0), default=0)
    args = ap.parse_args(argv)
    run = Folder(args.run)
    records = [r.to_dict() for r in load_run(run)]
    space = load_space(run.file(RunLayout.SPACE))
    try:
        out = predict_run(records, space, args.candidates, args.seed)
    except ValueError as e:
        raise ConfigError(args.run, RunLayout.RECORDS, str(e)) from None
    names = space.metric_names
    print(f"predicted front over {out['candidates']} candidates (fit on {out['trained_on']}):")
    for p in out["predicted_front"]:
        cells = "  ".join(f"{n} {p['predicted'][n]:.4f}±{p['std'][n]:.4f}" for n in names)
        print(f"  {p['mixture_id']}  {cells}")
    print(
        "leave-one-out mean abs error: "
        + ", ".join(f"{n} {v:.4f}" for n, v in out["loo_mean_abs_error"].items())
    )
    for d in out["disagreements"]:
        side = (
            "measured on the front, predicted off"
            if d["measured_front"]
            else "predicted on the front, measured off"
        )
        print(f"  disagrees: {d['trial_id']} ({side})")
    print(json.dumps(out, default=str))
    return 0
