"""``codemix_search predict RUN``: the surrogate's predicted front over candidate mixtures, with
its uncertainty and where it disagrees with the measured front (analysis/predict.py)."""

from __future__ import annotations

import json

from codemix_search.analysis.predict import predict_run
from codemix_search.config.load import load_space
from codemix_search.errors import ConfigError, OneLineParser, number
from codemix_search.export.recipes import load_run
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def main(argv: list[str] | None = None) -> int:

    ap = OneLineParser(prog="codemix_search predict", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished run folder (fsspec URI)")
    # each candidate is a space sample and a prediction (~0.1 ms): 100,000 is ~10 s
    ap.add_argument("--candidates", type=number(int, 1, 100_000), default=512)
    ap.add_argument("--seed", type=number(int, 0), default=0)
    args = ap.parse_args(argv)
    run = Folder(args.run)
    records = load_run(run)
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
