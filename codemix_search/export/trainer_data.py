"""A recipe's data in the formats trainers read, from the run's own tokenized shards.

``codemix_search export RUN --format megatron|olmo_core`` writes, into one folder:
- ``data/``: each source's train split once, as the trainer stores tokens: Megatron's indexed
  dataset (``<source>_text_document.bin/.idx``, one document per end-of-text token), or the raw
  headerless token array OLMo-core memory-maps (``<source>/part-00000.npy``: a ``np.save`` file
  would be read with its 128-byte header as 64 garbage uint16 tokens);
- ``tokenizer/``: the run's tokenizer (``PreTrainedTokenizerFast``: transformers 4.x and 5.x);
- ``<trial_id>.json`` per Pareto-optimal trial: per phase the trainer's own arguments
  (Megatron: ``--data-path``, ``--split``, ``--seq-length``, ``--train-samples``) or its dataset
  config (OLMo-core 3.x ``NumpyFSLDatasetConfig`` with a ``SourceMixtureDatasetConfig``, in the
  ``_CLASS_`` form its ``Config.from_dict`` builds).

Weights are shares of TOKENS under the proxy's tokenizer (what the trials trained on), or with
``--tokenizer T`` under T, the data re-tokenized with T (export/target.py); the trainers sample
by tokens, so the exported data keeps the recipe's mix in the units it states.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from codemix_search.data.dataset import load_split, materialize, read_manifest
from codemix_search.data.pack import PAD, dtype_for, portable_tokenizer
from codemix_search.errors import ConfigError
from codemix_search.export.formats import PHASES, phase_tokens, recipe_weights
from codemix_search.export.target import TargetRequest, plan_target
from codemix_search.export.trainer_writers import write_mds, write_megatron, write_olmo
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import DatasetLayout, RunLayout
from codemix_search.storage.publish import publish_dir

MEGATRON_TARGET = "megatron-core 0.16 (IndexedDataset MMIDIDX v1, GPTDataset)"
OLMO_TARGET = "ai2-olmo-core 3.0 (NumpyFSLDatasetConfig.from_dict)"
MOSAIC_TARGET = "mosaicml-streaming 0.13 MDS + llm-foundry train_loader (name: text)"
FORMATS = ("megatron", "olmo_core", "mosaic")


def mosaic_recipe(recipe: Mapping, streams: Mapping[str, dict], seq_len: int) -> dict:
    """Per phase, an llm-foundry ``train_loader`` (``name: text``) over one stream per source
    with the recipe's ``proportion``; ``epoch_size`` is the phase's samples, so one epoch is
    the phase, and ``max_duration`` its tokens."""
    batch = int(recipe["training"]["batch_size"])
    phases = {}
    for phase in PHASES:
        weights = recipe_weights(recipe, phase)
        samples = train_samples(phase_tokens(recipe, phase), seq_len)
        phases[phase] = {
            "weights": weights,
            "tokens": phase_tokens(recipe, phase),
            "train_samples": samples,
            "llm_foundry": {
                "max_seq_len": seq_len,
                "global_train_batch_size": batch,
                "max_duration": f"{samples * seq_len}tok",
                "train_loader": {
                    "name": "text",
                    "dataset": {
                        "streams": {s: {**streams[s], "proportion": w} for s, w in weights.items()},
                        "max_seq_len": seq_len,
                        "epoch_size": samples,
                        "shuffle": True,
                        "shuffle_seed": int(recipe.get("seed") or 0),
                    },
                    "drop_last": True,
                    "num_workers": 0,
                },
            },
        }
    return _header(recipe, MOSAIC_TARGET, seq_len) | {"phases": phases}


def train_samples(tokens: int, seq_len: int) -> int:
    return max(1, math.ceil(tokens / seq_len))


def megatron_recipe(
    recipe: Mapping, prefixes: Mapping[str, str], tokenizer_dir: str, seq_len: int
) -> dict:
    """Per phase, the arguments ``pretrain_gpt.py`` takes for this recipe's data."""
    phases = {}
    for phase in PHASES:
        weights = recipe_weights(recipe, phase)
        blend = [x for s, w in weights.items() for x in (f"{w:.6f}", prefixes[s])]
        samples = train_samples(phase_tokens(recipe, phase), seq_len)
        phases[phase] = {
            "weights": weights,
            "tokens": phase_tokens(recipe, phase),
            "train_samples": samples,
            "args": [
                "--data-path",
                *blend,
                "--split",
                "100,0,0",
                "--seq-length",
                str(seq_len),
                "--train-samples",
                str(samples),
                "--tokenizer-type",
                "HuggingFaceTokenizer",
                "--tokenizer-model",
                tokenizer_dir,
            ],
        }
    return _header(recipe, MEGATRON_TARGET, seq_len) | {"phases": phases}


def olmo_recipe(
    recipe: Mapping,
    paths: Mapping[str, str],
    available: Mapping[str, int],
    tokenizer: Mapping,
    dtype: str,
    seq_len: int,
    work_dir: str,
) -> dict:
    """Per phase, an OLMo-core 3.x dataset config (``NumpyFSLDatasetConfig.from_dict``)."""
    mod = "olmo_core.data."
    batch_tokens = int(recipe["training"]["batch_size"]) * seq_len
    phases = {}
    for phase in PHASES:
        weights = recipe_weights(recipe, phase)
        # OLMo-core trains whole steps: it rounds the request up to whole global batches and
        # spreads the extra instances evenly over the sources, which skews a small phase's
        # ratios by several instances; asking for whole batches keeps each source within one.
        requested = max(1, math.ceil(phase_tokens(recipe, phase) / batch_tokens)) * batch_tokens
        sources = [
            {
                "_CLASS_": mod + "source_mixture.SourceMixtureConfig",
                "source_name": s,
                "target_ratio": w,
                "paths": [paths[s]],
                # Small proxy data is repeated to reach a phase's tokens: allow exactly what the
                # recipe needs (OLMo-core refuses a mixture that would need more), at least 1.
                "max_repetition_ratio": max(1.0, math.ceil(10 * requested * w / available[s]) / 10),
            }
            for s, w in weights.items()
        ]
        phases[phase] = {
            "weights": weights,
            "tokens": phase_tokens(recipe, phase),
            "dataset": {
                "_CLASS_": mod + "numpy_dataset.NumpyFSLDatasetConfig",
                "tokenizer": {"_CLASS_": mod + "tokenizer.TokenizerConfig", **tokenizer},
                "sequence_length": seq_len,
                "dtype": dtype,
                "work_dir": work_dir,
                "source_mixture_config": {
                    "_CLASS_": mod + "source_mixture.SourceMixtureDatasetConfig",
                    "source_list": {
                        "_CLASS_": mod + "source_mixture.SourceMixtureList",
                        "sources": sources,
                    },
                    "requested_tokens": requested,
                    "global_batch_size": batch_tokens,
                    "seed": int(recipe.get("seed") or 0),
                },
            },
        }
    return _header(recipe, OLMO_TARGET, seq_len) | {"phases": phases}


def _header(recipe: Mapping, target: str, seq_len: int) -> dict:
    return {
        "trial_id": recipe["trial_id"],
        "mixture_id": recipe.get("mixture_id"),
        "targets": target,
        "seq_len": seq_len,
        "weights_are": "shares of tokens under the proxy's tokenizer (tokenizer/)",
    }


# -- the command: a run's recipes -> one folder a trainer reads ------------------------------
def run_recipes_and_data(run: Folder) -> tuple[list[dict], Folder, dict]:
    """A run's recipes, its dataset folder and that dataset's manifest (one line otherwise)."""
    recipes = _recipes(RunLayout(run))
    info = run.read_json(RunLayout.RUN)["data"]
    data = Folder(info["uri"])
    if not data.exists(DatasetLayout.MANIFEST):
        raise ConfigError(run.file(RunLayout.RUN), "data.uri", f"{data.uri} holds no dataset")
    return recipes, data, read_manifest(data)


def export_for_trainer(
    run: Folder,
    fmt: str,
    out: Folder | None = None,
    seq_len: int | None = None,
    target: TargetRequest | None = None,
) -> dict:
    """Write ``fmt``'s data and per-trial configs for every recipe of ``run`` into ``out``
    (default ``<run>/exports/<fmt>``), all or nothing (``_SUCCESS`` last). With ``target``'s
    tokenizer the data is re-tokenized with it and the weights and tokens are in its units
    (export/target.py); its budget and cap are checked before anything is written."""
    if fmt not in FORMATS:
        raise ConfigError("--format", "", f"{fmt!r}: choose one of {', '.join(FORMATS)}")
    recipes, data, manifest = run_recipes_and_data(run)
    target = target or TargetRequest()
    plan = plan_target(recipes, data.uri, manifest, target, full=target.tokenizer is not None)
    local = materialize(data.uri, manifest)
    out = out or RunLayout(run).exports(fmt)
    final = out.local_path() if out.is_local else None
    sources = sorted({s for r in recipes for p in PHASES for s in recipe_weights(r, p)})
    seq = seq_len or int(recipes[0]["training"]["seq_len"])
    tok = target.tokenizer
    with publish_dir(final) if final else tempfile.TemporaryDirectory() as tmp:
        if tok:
            tok.save(os.path.join(tmp, "tokenizer"))
            # every train document, re-encoded with the target's tokenizer
            tokens = {s: np.concatenate(plan.encoded[s]) for s in sources}
            vocab = TokenVocab(tok.eos_id, tok.vocab_size)
        else:
            portable_tokenizer(
                os.path.join(local, DatasetLayout.TOKENIZER), os.path.join(tmp, "tokenizer")
            )
            tokens = {s: load_split(local, manifest, s, "train") for s in sources}
            vocab = TokenVocab(manifest.eos_id, manifest.vocab_size)
        where = final or out.uri  # configs name the data where it will be read from
        configs = _write_format(
            fmt, tmp, where, bool(final), out.uri, tokens, vocab, plan.views, seq
        )
        for c in configs:
            c["weights_are"] = plan.blocks[c["trial_id"]]["units"]["weights_are"]
            c.update(plan.blocks[c["trial_id"]])
            with open(os.path.join(tmp, f"{c['trial_id']}.json"), "w") as f:
                json.dump(c, f, indent=1, sort_keys=True)
        if not final:
            out.publish_from(tmp)
    return {
        "format": fmt,
        "out": out.uri,
        "trials": [c["trial_id"] for c in configs],
        "sources": sources,
        "seq_len": seq,
    }


@dataclass(frozen=True)
class TokenVocab:
    """What the written data's ids mean: the end-of-text id and the vocabulary's size."""

    eos_id: int
    size: int


def _write_format(fmt, tmp, where, local, uri, tokens, vocab, recipes, seq) -> list[dict]:
    """The trainer's data under ``tmp/data`` and its config per recipe (named as read from
    ``where``)."""
    sources = sorted(tokens)

    def at(rel: str) -> str:
        return os.path.join(where, rel) if local else f"{where.rstrip('/')}/{rel}"

    if fmt == "megatron":
        os.makedirs(os.path.join(tmp, "data"))
        for s in sources:
            write_megatron(
                tokens[s], vocab.eos_id, vocab.size, os.path.join(tmp, "data", f"{s}_text_document")
            )
        prefixes = {s: at(f"data/{s}_text_document") for s in sources}
        return [megatron_recipe(r, prefixes, at("tokenizer"), seq) for r in recipes]
    if fmt == "mosaic":
        streams = {}
        for s in sources:
            write_mds(tokens[s], os.path.join(tmp, "data", s), seq)
            # A remote export is read through a local cache named by the export and source:
            # another dataset with a same-named source never reuses a stale index.
            streams[s] = (
                {"local": at(f"data/{s}")}
                if local
                else {"remote": at(f"data/{s}"), "local": _stream_cache(uri, s)}
            )
        return [mosaic_recipe(r, streams, seq) for r in recipes]
    dtype = np.dtype(dtype_for(vocab.size))  # the shard dtype for this vocabulary
    available = {
        s: write_olmo(tokens[s], os.path.join(tmp, "data", s, "part-00000.npy"), dtype)
        for s in sources
    }
    olmo_tok = _olmo_tokenizer(os.path.join(tmp, "tokenizer"), at("tokenizer"), vocab)
    paths = {s: at(f"data/{s}/part-00000.npy") for s in sources}
    return [
        olmo_recipe(r, paths, available, olmo_tok, dtype.name, seq, at("work")) for r in recipes
    ]


def _stream_cache(uri: str, source: str) -> str:

    key = hashlib.sha256(uri.encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), "codemix-streams", key, source)


def _recipes(layout: RunLayout) -> list[dict]:
    folder = layout.recipes
    if not folder.is_complete():
        raise ConfigError(
            folder.uri,
            "_SUCCESS",
            f"no finished recipes: run `codemix_search export {layout.uri}` first",
        )
    names = sorted(n for n in folder.listdir() if n.endswith(".yaml"))
    if not names:
        raise ConfigError(folder.uri, "", "holds no recipe (the run has no finished trial)")
    return [folder.read_yaml(n) for n in names]


def _olmo_tokenizer(tokenizer_dir: str, identifier: str, vocab: TokenVocab) -> dict:

    with open(os.path.join(tokenizer_dir, "tokenizer.json")) as f:
        tokenizer = json.load(f)
    special = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    ids = {**tokenizer["model"]["vocab"], **special}
    eos = int(vocab.eos_id)
    return {
        "vocab_size": int(vocab.size),
        "eos_token_id": eos,
        # The proxy's own pad, else GPT-NeoX's, else the end-of-text token.
        "pad_token_id": int(ids.get(PAD, ids.get("<|padding|>", eos))),
        "bos_token_id": eos,
        "identifier": identifier,
    }
