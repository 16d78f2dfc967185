"""``codemix_search train --space S``: train one mixture (the space's first seeded sample)
outside Tune, on one worker of a local Ray, and print its last report; the smallest check that
the loop, the data and Ray Train work here (train/launch.py builds the trainer)."""

from __future__ import annotations

import json
import os
import random

import ray

from codemix_search.config.load import load_space
from codemix_search.core.plan import ResourcePlan
from codemix_search.data.build import prepare_space_data
from codemix_search.demo.make_sources import space_sources
from codemix_search.errors import OneLineParser
from codemix_search.storage.folder import Folder
from codemix_search.train.launch import make_trainer
from codemix_search.train.loop_config import loop_config


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="codemix_search train", description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="search_spaces/tiny.yaml", help="search space YAML")
    ap.add_argument("--storage", default=os.path.abspath("runs"), help="fsspec URI")
    args = ap.parse_args(argv)
    space = load_space(args.space)
    cfg = space.sample(random.Random(space.seed))
    data = prepare_space_data(space, *space_sources(space), Folder(args.storage))
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        plan = ResourcePlan(
            driver={"CPU": 1}, worker={"CPU": 1}, workers=1, use_gpu=False, concurrency=1
        )
        cfg = loop_config(space, cfg, data.uri, data.manifest, seed=space.seed)
        result = make_trainer(cfg, plan, "train_loop_main", os.path.abspath(args.storage)).fit()
    finally:
        ray.shutdown()
    metrics = {k: v for k, v in result.metrics.items() if not isinstance(v, dict)}
    print(json.dumps(metrics, indent=1, default=str))
    return 0
