"""Initialisation models: the paper's text-only, balanced and code-only bases, trained once.

Continued pretraining starts from a base; the paper found Balanced (50/50 text/code) -> text the
best start for NL reasoning. Each base needed by a space (``training.init`` or the searched
``init`` parameter) is trained before the search starts, with the trials' own loop, model, batch
and schedule, on its base mixture (text sources only / half text, half web code / web code only),
for ``training.init_tokens`` tokens. It is cached in ``<storage>/_inits/<key>/`` (model files,
``base.json`` with how it was made, ``_SUCCESS``); the key hashes the model size, the dataset and
tokenizer, the mixture and the training knobs, so every later trial and run with the same setting
reuses it. Ray appears only in ``train_base`` (one TorchTrainer run per missing base).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random

from codemix_search.config.sections import RUN_ONLY_KNOBS
from codemix_search.core.mixture import BASES, base_weights
from codemix_search.core.records import TrialReport
from codemix_search.core.seeds import derive_seed
from codemix_search.data.dataset import DataManifest
from codemix_search.errors import ConfigError, DataError
from codemix_search.storage.folder import Folder
from codemix_search.train.checkpoint import copy_files
from codemix_search.train.launch import checkpoint_uri, make_trainer
from codemix_search.train.loop_config import LoopConfig, loop_config

log = logging.getLogger(__name__)
BASE_VERSION = 1
MODEL_FILES = ("config.json", "model.safetensors", "generation_config.json")


def base_loop_config(space, name: str, data_uri: str, manifest: DataManifest) -> LoopConfig:
    """The loop config that trains base ``name`` (a pure function of the space and data)."""
    t = space.training
    weights = base_weights(name, space.catalog)
    # Only the mixture shares go in, so the base uses the space's default training knobs
    # (whatever the trials search) and starts from scratch.
    shares = {
        n: v for n, v in space.sample(random.Random(0)).items() if n in space.mixture_param_names
    }
    cfg = loop_config(
        dataclasses.replace(space, training=dataclasses.replace(space.training, init="scratch")),
        shares,
        data_uri,
        manifest,
        seed=0,
    )
    tokens = t.init_tokens or t.tokens
    return cfg.replace(
        steps=max(2 * t.evals, tokens // t.tokens_per_step),
        mixture={"pretrain": weights, "cooldown": weights, "shares": {"base": name}},
        init_uri=None,
        # Fixed, not the space's seed: bases are shared by every space with the same setting.
        seed=derive_seed(0, "base", name),
    )


# Besides the run-only knobs: a base trains ``steps`` (hashed) from scratch, so the trials'
# token budget, the base's own token budget and the trials' init say nothing more about it.
NOT_IN_BASE_KEY = RUN_ONLY_KNOBS | {"tokens", "init_tokens", "init"}


def base_key(name: str, cfg: LoopConfig) -> str:
    """The cache key of a base: every training knob that changes its weights (a new knob is in
    it unless declared otherwise), its steps, mixture and seed, the tokenizer and the data."""
    knobs = dataclasses.asdict(cfg.training)
    ident = {k: v for k, v in knobs.items() if k not in NOT_IN_BASE_KEY}
    ident |= {"steps": cfg.steps, "mixture": cfg.mixture, "seed": cfg.seed}
    ident["tokenizer"] = cfg.manifest.tokenizer_sha256
    ident["data"] = cfg.manifest.key
    ident["version"] = BASE_VERSION
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    return f"{name}-{cfg.training.model}-{digest}"


def train_base(cfg: LoopConfig, plan, storage_path: str, name: str) -> str:
    """Train one base with Ray Train; return the local or remote folder of its final checkpoint."""
    result = make_trainer(cfg, plan, name, storage_path, max_failures=1, keep_checkpoints=1).fit()
    if TrialReport.of(result.metrics).diverged or result.checkpoint is None:
        raise ConfigError(
            storage_path, "training.lr", f"base {name} did not train (diverged): lower lr"
        )
    return checkpoint_uri(result.checkpoint, storage_path)


def ensure_bases(space, data, storage: Folder, plan) -> dict[str, str]:
    """{base name: model folder URI} for every base the space may start from; trains the
    missing ones (sequentially, before any trial, so no two trials race to build one)."""
    out = {}
    for name in space.inits:
        if name not in BASES:
            continue
        cfg = base_loop_config(space, name, data.uri, data.manifest)
        key = base_key(name, cfg)
        target = storage.child("_inits", key)
        # A base is there when its weights are (a marker beside no weights, as an older version
        # left on remote storage, is trained again).
        if not (target.is_complete() and target.exists("model.safetensors")):
            log.info("training base %s (%d steps, once; cached as %s)", name, cfg.steps, key)
            train_root = storage.child("_inits", "_train")
            path = train_base(
                cfg,
                plan,
                train_root.local_path() if train_root.is_local else train_root.uri,
                key,
            )
            ckpt = Folder(path)
            copy_files(ckpt, target, [f for f in MODEL_FILES if ckpt.exists(f)])
            if not target.exists("model.safetensors"):
                raise DataError(path, "model.safetensors", "the base's checkpoint has no weights")
            target.write_json(
                "base.json",
                {
                    "name": name,
                    "key": key,
                    "mixture": cfg.mixture,
                    "steps": cfg.steps,
                    "tokens": cfg.steps * cfg.tokens_per_step,
                    "model": cfg.training.model,
                    "data": data.uri,
                    "tokenizer_sha256": data.manifest.tokenizer_sha256,
                },
            )
            target.mark_success({"key": key})
        out[name] = target.uri
    return out
