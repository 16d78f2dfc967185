"""``codemix_search replay RECIPE``: retrain a recipe's trial and check it reproduces its curve.

    codemix_search replay runs/try1/recipes/<trial>.yaml

Reads the run the recipe came from (its ``space.yaml`` and ``trials/<trial>/trial.json``: config,
seed, init), retrains that one trial with the same loop on this machine (CPU, no Ray: the loop is
Ray-free), and compares every validation report with the trial's recorded ``curve.jsonl``. Exit
status 0 when every step's validation loss matches within ``--tolerance`` (default 1e-6; on CPU with
the same seed and thread count the match is exact), 1 otherwise, 2 for bad input.
"""

from __future__ import annotations

import json
import posixpath

from codemix_search.config.load import parse_space
from codemix_search.data.dataset import DataRef, read_manifest
from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout, TrialLayout
from codemix_search.train.loop import train
from codemix_search.train.loop_config import loop_config


def _run_of(recipe_uri: str) -> tuple[Folder, str]:
    recipes = posixpath.dirname(recipe_uri.rstrip("/"))
    return Folder(posixpath.dirname(recipes)), posixpath.basename(recipes)


def replay(recipe_uri: str, tolerance: float = 1e-6) -> dict:

    parent = Folder(posixpath.dirname(recipe_uri))
    name = posixpath.basename(recipe_uri)
    try:
        recipe = parent.read_yaml(name)
    except FileNotFoundError:
        raise ConfigError(recipe_uri, "", "no such recipe") from None
    if not isinstance(recipe, dict) or "trial_id" not in recipe:
        raise ConfigError(recipe_uri, "trial_id", "not a codemix_search recipe")
    run, _ = _run_of(recipe_uri)
    trial = RunLayout(run).trial(recipe["trial_id"]).folder
    for need in (TrialLayout.TRIAL, TrialLayout.CURVE):
        if not trial.exists(need):
            raise ConfigError(
                trial.file(need), "", "missing: replay needs the run folder the recipe came from"
            )
    space = parse_space(run.read_yaml(RunLayout.SPACE), run.file(RunLayout.SPACE))
    info = trial.read_json(TrialLayout.TRIAL)
    data_uri = info["data"]["uri"]
    data = DataRef(data_uri, read_manifest(Folder(data_uri)))
    inits = {info["init"]["name"]: info["init"]["uri"]} if info["init"].get("uri") else None
    cfg = loop_config(space, info["config"], data.uri, data.manifest, info["seed"], inits)
    recorded = [json.loads(x) for x in trial.read_text(TrialLayout.CURVE).splitlines() if x.strip()]
    replayed: list[dict] = []
    train(cfg, report=lambda metrics, checkpoint_dir=None: replayed.append(metrics))
    rows = []
    for a, b in zip(recorded, replayed, strict=False):
        rows.append(
            {
                "step": a["step"],
                "recorded": a["val_loss"],
                "replayed": b["val_loss"],
                "diff": abs(a["val_loss"] - b["val_loss"]),
            }
        )
    same = len(recorded) == len(replayed) and all(r["diff"] <= tolerance for r in rows)
    return {"trial_id": recipe["trial_id"], "reproduced": same, "steps": rows}
