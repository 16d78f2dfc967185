"""Build (or reuse) a dataset: sources -> documents -> tokenizer -> packed shards + manifest.

    python -m codemix_search data build --sources my_sources.yaml --storage s3://bucket/runs
    python -m codemix_search data check  --dataset s3://bucket/runs/_data/<key>

Stages (plain Python functions; Ray only runs them at scale):
1. read: every file of every source (codemix_search/data/readers.py), one document per record;
2. split: a document's hash puts it in ``val`` (``validation_share``) or ``train``, so the split is
   stable across runs, machines and engines; exact duplicates inside a source are dropped, and so
   is every document sharing a 13-word n-gram with an eval text (``decontaminate``);
3. tokenizer: byte-level BPE trained on a per-source sample of the train split (or the one given);
4. tokenize + pack: documents joined by end-of-text into one ``.npy`` per source and split
   (uint16 when the vocabulary fits, else uint32), memory-mappable;
5. manifest: per source and split the documents, tokens, bytes, sha256, plus the tokenizer's hash,
   the sources' fingerprints and what was removed.

Reading and tokenizing run on Ray Data when Ray is up (``engine="ray"``: one read task per file,
then ``map_batches`` over documents, order preserved so shards are byte-identical to the local
engine's); ``engine="local"`` runs the same functions in this process.

The dataset lives in ``<storage>/_data/<key>/`` where the key hashes the sources config, each
file's size and mtime/ETag (or a repository's HEAD), the tokenizer and the builder version. A
folder with ``_SUCCESS`` is reused as is: a rerun with unchanged inputs is a no-op. The build
happens in a local temporary folder and is uploaded file by file, ``_SUCCESS`` last. Shards are
checked against the manifest (size on every load, sha256 when a dataset is reused or downloaded),
so a corrupt or truncated shard is a clear error, not a silent wrong answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable

import numpy as np

from codemix_search.config.sources import SourcesConfig, SourceSpec, load_sources
from codemix_search.data import pack
from codemix_search.data.dataset import DataRef, cache_root, read_manifest, verify_shards
from codemix_search.data.engines import Engine
from codemix_search.data.readers import check_source, fingerprint, read_file
from codemix_search.data.stages import NGRAM, ShardWriter, eval_index
from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import DatasetLayout
from codemix_search.storage.publish import publish_dir

log = logging.getLogger(__name__)
BUILDER_VERSION = 5


# -- the build ---------------------------------------------------------------------------------
def _eval_index(cfg: SourcesConfig) -> dict[int, np.ndarray]:
    if not cfg.decontaminate:
        return {}
    spec = SourceSpec(name="decontaminate", kind="eval", uri=cfg.decontaminate)
    texts = [t for path in check_source(spec, cfg.file) for t in read_file(spec, path, cfg.file)]
    return eval_index(texts)


def _tokenizer_sample(rows: Iterable[dict], cfg: SourcesConfig) -> dict[str, list[str]]:
    """A per-source sample of train documents (equal characters per source, so the vocabulary
    is not all one kind of data)."""
    cap = max(300_000, 100 * cfg.vocab_size)
    sample: dict[str, list[str]] = {s.name: [] for s in cfg.sources}
    chars = dict.fromkeys(sample, 0)
    for row in rows:
        name = row["source"]
        if row["split"] == "train" and chars[name] < cap:
            sample[name].append(row["text"])
            chars[name] += len(row["text"])
    return sample


def _load_tokenizer(uri: str, out_dir: str):
    # imported here, not at the top: transformers: 0.7 s, more with torch
    from transformers import PreTrainedTokenizerFast

    src = Folder(uri)
    for name in src.listdir():
        src.download(name, os.path.join(out_dir, name))
    tok = PreTrainedTokenizerFast.from_pretrained(out_dir)
    if tok.eos_token_id is None:
        raise ConfigError(uri, "tokenizer.uri", "the tokenizer has no eos_token; set one")
    return tok


def build_dataset(
    cfg: SourcesConfig, out: str, files: dict[str, list[str]], fingerprints: dict, engine: str
) -> dict:
    """Build into local folder ``out``; return the manifest."""
    t0 = time.time()
    eng = Engine(cfg, files, engine)
    tok_dir = os.path.join(out, DatasetLayout.TOKENIZER)
    if cfg.tokenizer_uri:
        tok = _load_tokenizer(cfg.tokenizer_uri, tok_dir)
    else:
        tok = pack.train_tokenizer(_tokenizer_sample(eng.rows(), cfg), cfg.vocab_size, tok_dir)
    t_tok = time.time()
    eos_id = tok.eos_token_id
    dtype = pack.dtype_for(len(tok))
    eval_ngrams = _eval_index(cfg)
    os.makedirs(os.path.join(out, "shards"), exist_ok=True)
    writers = {
        (s.name, split): ShardWriter(os.path.join(out, "shards", f"{s.name}.{split}.npy"), dtype)
        for s in cfg.sources
        for split in ("train", "val")
    }
    seen: dict[str, set[bytes]] = {s.name: set() for s in cfg.sources}
    stats = {
        s.name: {"documents_read": 0, "duplicates_removed": 0, "contaminated_removed": 0}
        for s in cfg.sources
    }
    limits = {s.name: s.max_documents for s in cfg.sources}
    tokenizer_json = tok.backend_tokenizer.to_str()
    for batch in eng.tokenized(tokenizer_json, eos_id, eval_ngrams):
        for source, split, digest, dirty, ids in batch:
            st = stats[source]
            if limits[source] and st["documents_read"] >= limits[source]:
                continue
            st["documents_read"] += 1
            if digest in seen[source]:
                st["duplicates_removed"] += 1
                continue
            seen[source].add(digest)
            if dirty:
                st["contaminated_removed"] += 1
                continue
            writers[(source, split)].add(ids)
    sources = _finish_shards(cfg, writers, stats, files)
    if cfg.eval_items:
        src = Folder(cfg.eval_items)
        for name in src.listdir():
            src.download(name, os.path.join(out, "eval", name))
    return {
        "vocab_size": len(tok),
        "eos_id": int(eos_id),
        "tokenizer_sha256": pack.tokenizer_hash(tok_dir),
        "sources": sources,
        "config": cfg.to_dict(),
        "fingerprints": fingerprints,
        "eval": bool(cfg.eval_items),
        "decontamination": {
            "ngram": NGRAM,
            "eval_windows": int(sum(v.size for v in eval_ngrams.values())),
        },
        "engine": engine,
        "build_seconds": {
            "tokenizer": round(t_tok - t0, 1),
            "total": round(time.time() - t0, 1),
        },
        "builder_version": BUILDER_VERSION,
    }


def _finish_shards(cfg: SourcesConfig, writers: dict, stats: dict, files: dict) -> dict:
    """Close every shard; the manifest's per-source entries (a source left with no train or no
    validation document is one line naming it and the fix)."""
    sources = {}
    for s in cfg.sources:
        splits = {}
        for split in ("train", "val"):
            entry = writers[(s.name, split)].finish()
            splits[split] = {"file": f"shards/{s.name}.{split}.npy", **entry}
        if splits["train"]["documents"] == 0 or splits["val"]["documents"] == 0:
            raise ConfigError(
                cfg.file,
                f"sources.{s.name}",
                f"{stats[s.name]['documents_read']} documents leave "
                f"{splits['train']['documents']} to train and {splits['val']['documents']} to "
                "validate on; add data or raise validation_share",
            )
        sources[s.name] = {
            "kind": s.kind,
            "uri": s.uri,
            "format": s.format,
            "files": len(files[s.name]),
            **stats[s.name],
            "splits": splits,
        }
    return sources


def dataset_key(cfg: SourcesConfig, fingerprints: dict, label: str) -> str:
    ident = {
        "config": {**cfg.to_dict(), "file": None},
        "fingerprints": fingerprints,
        "builder": BUILDER_VERSION,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return f"{label}-{digest[:12]}"


def _fingerprints(cfg: SourcesConfig, files: dict[str, list[str]]) -> dict:
    fp = {s.name: fingerprint(s, files[s.name]) for s in cfg.sources}
    for extra in ("tokenizer_uri", "eval_items", "decontaminate"):
        uri = getattr(cfg, extra)
        if uri:
            folder = Folder(uri)
            if not folder.fs.exists(folder.path):
                raise ConfigError(cfg.file, extra, f"{uri} does not exist; fix the path")
            paths = folder.fs.find(folder.path) if folder.fs.isdir(folder.path) else [folder.path]
            spec = SourceSpec(name="x", kind="x", uri=uri, format="text")
            fp[extra] = fingerprint(spec, sorted(paths))
    return fp


def prepare_data(
    cfg: SourcesConfig, storage: Folder, label: str = "data", engine: str = "auto"
) -> DataRef:
    """The dataset of ``cfg`` under ``<storage>/_data/<key>``: reused when complete (after a
    sha256 check of its shards), else built and uploaded. ``engine``: ray | local | auto (Ray
    Data when Ray is initialised)."""
    # The label names a folder under <storage>/_data: one name, never a path out of it.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", label) or ".." in label:
        raise ConfigError("--label", "", f"{label[:40]!r}: letters, digits, '-', '_' or '.'")
    files = {s.name: check_source(s, cfg.file) for s in cfg.sources}
    fingerprints = _fingerprints(cfg, files)
    key = dataset_key(cfg, fingerprints, label)
    target = storage.child("_data", key)
    if target.is_complete():
        manifest = read_manifest(target)
        if target.is_local:
            verify_shards(target.local_path(), manifest)
        return DataRef(target.uri, manifest)
    if engine == "auto":
        # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
        import ray

        engine = "ray" if ray.is_initialized() else "local"
    local = Folder(os.path.join(cache_root(), "data", key))
    if not local.is_complete():
        log.info("building dataset %s with the %s engine (cached in %s)", key, engine, local.uri)
        with publish_dir(local.uri) as tmp:  # the whole folder appears at once
            manifest = build_dataset(cfg, tmp, files, fingerprints, engine)
            manifest["key"] = key
            with open(os.path.join(tmp, DatasetLayout.MANIFEST), "w") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
    else:
        verify_shards(local.uri, read_manifest(local))
    if os.path.abspath(target.uri) == os.path.abspath(local.uri):
        return DataRef(local.uri, read_manifest(local))
    target.publish_from(local.uri, {"key": key})  # every file, the marker last
    return DataRef(target.uri, read_manifest(target))


def prepare_space_data(
    space, sources_file: str, label: str, storage: Folder, engine: str = "auto"
) -> DataRef:
    """The dataset of a space: ``sources_file`` built (or reused) once it is checked to hold
    every source the space's mixtures name (demo/make_sources.space_sources gives file and label)."""
    cfg = load_sources(sources_file)
    missing = {s.name for s in space.catalog} - {s.name for s in cfg.sources}
    if missing:
        raise ConfigError(cfg.file, "sources", f"missing sources {sorted(missing)}")
    return prepare_data(cfg, storage, label, engine)
