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

Weights are shares of TOKENS under the proxy's tokenizer (what the trials trained on); both
trainers sample by tokens, so the exported data keeps the recipe's mix as it is.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping

import numpy as np

from codemix_search.data.dataset import load_split, materialize
from codemix_search.data.pack import dtype_for, portable_tokenizer
from codemix_search.errors import ConfigError
from codemix_search.export.formats import PHASES, phase_tokens, recipe_weights
from codemix_search.storage.folder import Folder, publish_dir
from codemix_search.storage.layout import RunLayout

MEGATRON_TARGET = "megatron-core 0.16 (IndexedDataset MMIDIDX v1, GPTDataset)"
OLMO_TARGET = "ai2-olmo-core 3.0 (NumpyFSLDatasetConfig.from_dict)"
MOSAIC_TARGET = "mosaicml-streaming 0.13 MDS + llm-foundry train_loader (name: text)"
FORMATS = ("megatron", "olmo_core", "mosaic")
_MEGATRON_HEADER = b"MMIDIDX\x00\x00"
# Megatron's DType codes (megatron/core/datasets/indexed_dataset.py); the only two we write.
_MEGATRON_DTYPE_CODE = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def document_lengths(tokens: np.ndarray, eos_id: int) -> np.ndarray:
    """Lengths of the documents of a shard (each ends with its end-of-text token; a tail
    without one is a document too)."""
    ends = np.flatnonzero(np.asarray(tokens) == eos_id) + 1
    if ends.size == 0 or ends[-1] != len(tokens):
        ends = np.append(ends, len(tokens))
    return np.diff(np.concatenate([[0], ends])).astype(np.int64)


def megatron_dtype(vocab_size: int) -> np.dtype:
    # Megatron's own choice (DType.optimal_dtype): uint16 below 65,500 ids, else int32.
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def write_megatron(tokens: np.ndarray, eos_id: int, vocab_size: int, prefix: str) -> int:
    """``prefix.bin`` + ``prefix.idx``, one sequence per document; megatron-core's own builder
    where it is installed, else the same bytes from numpy (tests compare the two byte for
    byte). Returns the number of documents."""
    dtype = megatron_dtype(vocab_size)
    lengths = document_lengths(tokens, eos_id)
    try:
        import torch
        from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder
    except ImportError:
        _write_megatron_numpy(np.asarray(tokens, dtype=dtype), lengths, prefix)
        return len(lengths)
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=dtype.type)
    ids = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    start = 0
    for n in lengths.tolist():  # as tools/preprocess_data.py: one add_document per document
        builder.add_document(ids[start : start + n], [n])
        start += n
    builder.finalize(prefix + ".idx")
    return len(lengths)


def _write_megatron_numpy(tokens: np.ndarray, lengths: np.ndarray, prefix: str) -> None:
    with open(prefix + ".bin", "wb") as f:
        f.write(tokens.tobytes(order="C"))
    pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * tokens.dtype.itemsize
    document_indices = np.arange(len(lengths) + 1, dtype=np.int64)  # one sequence per document
    with open(prefix + ".idx", "wb") as f:
        f.write(_MEGATRON_HEADER)
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", _MEGATRON_DTYPE_CODE[tokens.dtype]))
        f.write(struct.pack("<Q", len(lengths)))
        f.write(struct.pack("<Q", len(document_indices)))
        f.write(lengths.astype(np.int32).tobytes(order="C"))
        f.write(pointers.astype(np.int64).tobytes(order="C"))
        f.write(document_indices.tobytes(order="C"))


def write_olmo(tokens: np.ndarray, path: str, dtype: np.dtype) -> int:
    """A raw headerless token array (what OLMo-core memory-maps); returns its token count."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.asarray(tokens, dtype=dtype)
    arr.tofile(path)
    return int(arr.size)


def streaming_mds_writer():
    """mosaicml-streaming's own MDSWriter. ``import streaming`` also imports its vision
    datasets (torchvision); where torchvision cannot import (a CPU-only machine whose only
    torchvision wheel is a CUDA build), the writer is loaded from ``streaming.base`` alone."""
    import importlib.machinery
    import sys
    import types

    try:
        from streaming import MDSWriter

        return MDSWriter
    except ImportError as e:
        # What the failed import left behind goes; the package is found on sys.path afresh.
        for name in [m for m in sys.modules if m == "streaming" or m.startswith("streaming.")]:
            del sys.modules[name]
        spec = importlib.machinery.PathFinder.find_spec("streaming")
        if spec is None:
            raise ConfigError(
                "--format", "", "mosaic needs mosaicml-streaming: pip install mosaicml-streaming"
            ) from None
        if "torchvision" not in str(e):
            raise
    package = types.ModuleType("streaming")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["streaming"] = package
    from streaming.base import MDSWriter

    package.MDSWriter = MDSWriter  # what `from streaming import MDSWriter` finds from now on
    return MDSWriter


def write_mds(tokens: np.ndarray, out_dir: str, seq_len: int) -> int:
    """One MDS folder of ``seq_len``-token samples (documents concatenated with their
    end-of-text tokens, as llm-foundry's ``convert_dataset_hf --concat_tokens``), column
    ``tokens: ndarray:int32``; the last partial sample is dropped. Returns the sample count."""
    writer_cls = streaming_mds_writer()
    n = len(tokens) // seq_len
    arr = np.asarray(tokens[: n * seq_len], dtype=np.int32).reshape(n, seq_len)
    with writer_cls(out=out_dir, columns={"tokens": "ndarray:int32"}, compression=None) as out:
        for row in arr:
            out.write({"tokens": row})
    return n


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
        requested = max(phase_tokens(recipe, phase), batch_tokens)
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
def export_for_trainer(
    run: Folder, fmt: str, out: Folder | None = None, seq_len: int | None = None
) -> dict:
    """Write ``fmt``'s data and per-trial configs for every recipe of ``run`` into ``out``
    (default ``<run>/exports/<fmt>``), all or nothing (``_SUCCESS`` last). Returns a summary."""
    if fmt not in FORMATS:
        raise ConfigError("--format", "", f"{fmt!r}: choose one of {', '.join(FORMATS)}")
    layout = RunLayout(run)
    recipes = _recipes(layout)
    info = run.read_json(RunLayout.RUN)["data"]
    data = Folder(info["uri"])
    if not data.exists("manifest.json"):
        raise ConfigError(run.file(RunLayout.RUN), "data.uri", f"{data.uri} holds no dataset")
    manifest = data.read_json("manifest.json")
    local = materialize(data.uri, manifest)
    out = out or layout.exports(fmt)
    final = out.local_path() if out.is_local else None
    sources = sorted({s for r in recipes for p in PHASES for s in recipe_weights(r, p)})
    seq = seq_len or int(recipes[0]["training"]["seq_len"])
    with publish_dir(final) if final else tempfile.TemporaryDirectory() as tmp:
        portable_tokenizer(os.path.join(local, "tokenizer"), os.path.join(tmp, "tokenizer"))
        where = final or out.uri  # configs name the data where it will be read from

        def at(rel: str) -> str:
            return os.path.join(where, rel) if final else f"{where.rstrip('/')}/{rel}"

        tokens = {s: load_split(local, manifest, s, "train") for s in sources}
        if fmt == "megatron":
            os.makedirs(os.path.join(tmp, "data"))
            for s in sources:
                write_megatron(
                    tokens[s],
                    manifest["eos_id"],
                    manifest["vocab_size"],
                    os.path.join(tmp, "data", f"{s}_text_document"),
                )
            prefixes = {s: at(f"data/{s}_text_document") for s in sources}
            configs = [megatron_recipe(r, prefixes, at("tokenizer"), seq) for r in recipes]
        elif fmt == "mosaic":
            streams = {}
            for s in sources:
                write_mds(tokens[s], os.path.join(tmp, "data", s), seq)
                # A remote export is read through a local cache named by the export and source:
                # another dataset with a same-named source never reuses a stale index.
                streams[s] = (
                    {"local": at(f"data/{s}")}
                    if final
                    else {"remote": at(f"data/{s}"), "local": _stream_cache(out.uri, s)}
                )
            configs = [mosaic_recipe(r, streams, seq) for r in recipes]
        else:
            dtype = np.dtype(dtype_for(manifest["vocab_size"]))  # the run's own shard dtype
            available = {
                s: write_olmo(tokens[s], os.path.join(tmp, "data", s, "part-00000.npy"), dtype)
                for s in sources
            }
            tok = _olmo_tokenizer(manifest, os.path.join(tmp, "tokenizer"), at("tokenizer"))
            paths = {s: at(f"data/{s}/part-00000.npy") for s in sources}
            configs = [
                olmo_recipe(r, paths, available, tok, dtype.name, seq, at("work")) for r in recipes
            ]
        for c in configs:
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


def _stream_cache(uri: str, source: str) -> str:
    import hashlib

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


def _olmo_tokenizer(manifest: Mapping, tokenizer_dir: str, identifier: str) -> dict:
    from codemix_search.data.pack import PAD

    with open(os.path.join(tokenizer_dir, "tokenizer.json")) as f:
        vocab = json.load(f)["model"]["vocab"]
    eos = int(manifest["eos_id"])
    return {
        "vocab_size": int(manifest["vocab_size"]),
        "eos_token_id": eos,
        "pad_token_id": int(vocab.get(PAD, eos)),
        "bos_token_id": eos,
        "identifier": identifier,
    }
