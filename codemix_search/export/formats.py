"""Recipes in the formats other trainers read (pure functions; no Ray, no torch).

A recipe (codemix_search/export/recipes.py) has, per phase, a weight per source and the phase's share of
the token budget. Each exporter turns that into one trainer's mixture config, pointing at the
team's own copies of each source (``paths``: source name -> path or URI; by default the URI the
source was declared with):

- Megatron-LM: ``--data-path`` blends, ``w1 prefix1 w2 prefix2 ...`` per phase (prefixes of
  Megatron's indexed .bin/.idx datasets), plus the train-iteration split for the two phases;
- MosaicML Streaming (llm-foundry): ``train_loader.dataset.streams`` with ``proportion`` per stream;
- OLMo-core style: a source mixture (``source_name``, ``paths``, ``target_ratio``,
  ``max_repetition_ratio``) with the requested tokens per phase.

Weights below ``min_weight`` (default 1e-6) are dropped and the rest renormalised, because every
one of these trainers rejects or mis-handles zero-weight sources.

These are blends over paths the team already prepared in the trainer's format (written only by
``export RUN --paths paths.yaml``: over the sources' raw files no trainer could run them). To get that data
too (the run's tokenized sources as .bin/.idx, MDS or raw token arrays) with configs the trainer
runs as they are, use ``codemix_search export RUN --format megatron|mosaic|olmo_core``
(export/trainer_data.py); each file here says so in ``prepare_with``.
"""

from __future__ import annotations

from collections.abc import Mapping

from codemix_search.data.dataset import DataManifest

PHASES = ("pretrain", "cooldown")


def recipe_weights(recipe: Mapping, phase: str, min_weight: float = 1e-6) -> dict[str, float]:
    weights = {s: float(w) for s, w in recipe["phases"][phase]["weights"].items() if w > min_weight}
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"recipe {recipe.get('trial_id')}: phase {phase} has no weight")
    return {s: w / total for s, w in sorted(weights.items())}


def phase_tokens(recipe: Mapping, phase: str) -> int:
    return int(round(recipe["training"]["tokens"] * recipe["phases"][phase]["token_share"]))


def _path(paths: Mapping[str, str], source: str) -> str:
    if source not in paths:
        raise ValueError(f"no path for source {source!r}: pass one (source: path) for each")
    return paths[source]


def to_megatron(recipe: Mapping, paths: Mapping[str, str]) -> dict:
    out = {"format": "megatron-lm data blend", "trial_id": recipe.get("trial_id"), "phases": {}}
    for phase in PHASES:
        weights = recipe_weights(recipe, phase)
        blend: list = []
        for source, w in weights.items():
            blend += [round(w, 6), _path(paths, source)]
        out["phases"][phase] = {
            "data_path": blend,
            "tokens": phase_tokens(recipe, phase),
            "cli": "--data-path " + " ".join(str(x) for x in blend),
        }
    return out


def to_mosaic_streams(recipe: Mapping, paths: Mapping[str, str]) -> dict:
    out = {"format": "mosaicml streaming streams", "trial_id": recipe.get("trial_id"), "phases": {}}
    for phase in PHASES:
        streams = {
            source: {
                "remote": _path(paths, source),
                "local": f"/tmp/streams/{source}",
                "proportion": round(w, 6),
            }
            for source, w in recipe_weights(recipe, phase).items()
        }
        out["phases"][phase] = {
            "train_loader": {"dataset": {"streams": streams}},
            "tokens": phase_tokens(recipe, phase),
        }
    return out


def to_olmo_core(recipe: Mapping, paths: Mapping[str, str], max_repetition: float = 4.0) -> dict:
    out = {"format": "olmo-core source mixture", "trial_id": recipe.get("trial_id"), "phases": {}}
    for phase in PHASES:
        out["phases"][phase] = {
            "requested_tokens": phase_tokens(recipe, phase),
            "seed": recipe.get("seed", 0),
            "source_configs": [
                {
                    "source_name": source,
                    "paths": [_path(paths, source)],
                    "target_ratio": round(w, 6),
                    "max_repetition_ratio": max_repetition,
                }
                for source, w in recipe_weights(recipe, phase).items()
            ],
        }
    return out


def _with_note(fn, fmt: str):
    def exporter(recipe: Mapping, paths: Mapping[str, str]) -> dict:
        out = fn(recipe, paths)
        out["prepare_with"] = f"codemix_search export <run> --format {fmt}"
        return out

    return exporter


EXPORTERS = {
    "megatron": _with_note(to_megatron, "megatron"),
    "mosaic": _with_note(to_mosaic_streams, "mosaic"),
    "olmo_core": _with_note(to_olmo_core, "olmo_core"),
}


def default_paths(manifest: DataManifest) -> dict[str, str]:
    """Each source's declared URI (what the recipe's mixture was measured on)."""
    return {name: src.get("uri", name) for name, src in manifest.sources.items()}
