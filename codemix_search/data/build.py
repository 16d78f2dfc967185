"""Build (or reuse) a dataset: sources -> documents -> tokenizer -> packed shards + manifest.

    python -m codemix_search data build --sources my_sources.yaml --storage s3://bucket/runs
    python -m codemix_search data check  --dataset s3://bucket/runs/_data/<key>

Stages (plain Python functions; Ray only runs them at scale):
1. read: every file of every source (codemix_search/data/sources.py), one document per record;
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

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from codemix_search.data import pack
from codemix_search.data.sources import (
    SourcesConfig,
    SourceSpec,
    check_source,
    fingerprint,
    read_file,
)
from codemix_search.errors import ConfigError
from codemix_search.storage import Folder

log = logging.getLogger(__name__)
BUILDER_VERSION = 5
NGRAM = 13
"""Decontamination n-gram length in words (GPT-3's and lm-eval's choice)."""


@dataclass(frozen=True)
class DataRef:
    """Where a built dataset lives and what it holds."""

    uri: str
    manifest: dict

    @property
    def folder(self) -> Folder:
        return Folder(self.uri)

    @property
    def sources(self) -> list[str]:
        return sorted(self.manifest["sources"])


def cache_root() -> str:
    return os.environ.get("CODEMIX_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "codemix_search"
    )


# -- pure stages -------------------------------------------------------------------------------
def doc_hash(doc: str) -> bytes:
    return hashlib.sha256(doc.encode("utf-8", "replace")).digest()


def split_of(digest: bytes, validation_share: float) -> str:
    """val | train from the document's hash (the same rule as the demo's eval pools)."""
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < validation_share else "train"


_P = np.uint64(1_000_003)


@functools.lru_cache(maxsize=1 << 20)
def _word_id(word: str) -> int:
    # A stable hash (Python's hash() differs between processes, and Ray tasks are processes).
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """64-bit rolling hashes of every window of ``n`` lower-cased words (uint64; may be empty)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    ids = np.fromiter((_word_id(w) for w in words), dtype=np.uint64, count=len(words))
    m = len(words) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    for j in range(n):  # h = sum ids[i+j] * P^(n-1-j), wrapping mod 2^64
        h = h * _P + ids[j : j + m]
    return h


def eval_index(texts: Iterable[str], n: int = NGRAM) -> dict[int, np.ndarray]:
    """{window length: sorted hashes}: n-grams of each eval text, or the whole text when it has
    fewer than n words (so short eval items are matched too)."""
    by_len: dict[int, list[np.ndarray]] = {}
    for t in texts:
        k = min(n, len(re.findall(r"\w+", t)))
        if k:
            by_len.setdefault(k, []).append(ngram_hashes(t, k))
    return {k: np.unique(np.concatenate(v)) for k, v in by_len.items()}


def contaminated(text: str, index: dict[int, np.ndarray]) -> bool:
    """Whether the document shares a window with any eval text."""
    for k, hashes in index.items():
        h = ngram_hashes(text, k)
        if h.size and np.isin(h, hashes, assume_unique=False).any():
            return True
    return False


def read_rows(
    spec: SourceSpec, path: str, file_index: int, validation_share: float, file: str
) -> Iterator[dict]:
    """Documents of one file with what the later stages need (split, hash)."""
    for i, doc in enumerate(read_file(spec, path, file)):
        digest = doc_hash(doc)
        yield {
            "source": spec.name,
            "file": file_index,
            "doc": i,
            "digest": digest,
            "split": split_of(digest, validation_share),
            "text": doc,
        }


@functools.lru_cache(maxsize=4)
def _tokenizer(tokenizer_json: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json)


def tokenize_texts(tokenizer_json: str, texts: list[str], eos_id: int) -> list[np.ndarray]:
    """Token ids of each text, end-of-text appended (int32; packed to uint16/32 later)."""
    tok = _tokenizer(tokenizer_json)
    out = []
    for enc in tok.encode_batch(list(texts), add_special_tokens=False):
        ids = np.empty(len(enc.ids) + 1, dtype=np.int32)
        ids[:-1] = enc.ids
        ids[-1] = eos_id
        out.append(ids)
    return out


class ShardWriter:
    """Appends token arrays to a raw file, then writes the ``.npy`` header in front (streaming:
    a source larger than memory packs fine)."""

    def __init__(self, path: str, dtype):
        self.path, self.dtype = path, np.dtype(dtype)
        self.raw = open(path + ".raw", "wb")  # noqa: SIM115 - closed in finish()
        self.tokens = 0
        self.documents = 0

    def add(self, ids: np.ndarray) -> None:
        self.raw.write(np.asarray(ids, dtype=self.dtype).tobytes())
        self.tokens += len(ids)
        self.documents += 1

    def finish(self) -> dict:
        self.raw.close()
        h = hashlib.sha256()
        with open(self.path, "wb") as out, open(self.path + ".raw", "rb") as raw:
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False}
            header["shape"] = (self.tokens,)
            np.lib.format.write_array_header_1_0(out, header)
            size = out.tell()
            out.flush()
            with open(self.path, "rb") as f:
                h.update(f.read())
            while chunk := raw.read(1 << 22):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
        os.remove(self.path + ".raw")
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "bytes": size,
            "sha256": h.hexdigest(),
            "dtype": str(self.dtype),
        }


# -- engines -----------------------------------------------------------------------------------
def _file_items(cfg: SourcesConfig, files: dict[str, list[str]]) -> list[dict]:
    return [
        {"source": s.name, "path": p, "file_index": i}
        for s in cfg.sources
        for i, p in enumerate(files[s.name])
    ]


def _local_rows(cfg: SourcesConfig, files: dict[str, list[str]]) -> Iterator[dict]:
    specs = cfg.by_name()
    for item in _file_items(cfg, files):
        yield from read_rows(
            specs[item["source"]], item["path"], item["file_index"], cfg.validation_share, cfg.file
        )


class _Engine:
    """Two passes over the documents: a sample for the tokenizer, then tokenized rows in order."""

    def __init__(self, cfg: SourcesConfig, files: dict[str, list[str]], engine: str):
        self.cfg, self.files, self.engine = cfg, files, engine
        self._ds = None

    def rows(self) -> Iterable[dict]:
        if self.engine == "local":
            return _local_rows(self.cfg, self.files)
        return self._ray_docs().iter_rows()

    def tokenized(self, tokenizer_json: str, eos_id: int, eval_ngrams: dict):
        """Batches of (source, split, digest, contaminated, ids) in document order."""
        if self.engine == "local":
            batch: list[dict] = []
            for row in _local_rows(self.cfg, self.files):
                batch.append(row)
                if len(batch) == 256:
                    yield _tokenize_batch(batch, tokenizer_json, eos_id, eval_ngrams)
                    batch = []
            if batch:
                yield _tokenize_batch(batch, tokenizer_json, eos_id, eval_ngrams)
            return
        ds = self._ray_docs().map_batches(
            _ray_tokenize,
            batch_size=256,
            batch_format="pyarrow",
            fn_kwargs={
                "tokenizer_json": tokenizer_json,
                "eos_id": eos_id,
                "eval_ngrams": eval_ngrams,
            },
        )
        for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield _rows_from_table(table)

    def _ray_docs(self):
        if self._ds is not None:
            return self._ds
        import ray
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # byte-identical shards, run after run
        ctx.enable_progress_bars = False
        items = _file_items(self.cfg, self.files)
        remote_args = {}
        local = any("://" not in s.uri or s.uri.startswith("file://") for s in self.cfg.sources)
        if local and len([n for n in ray.nodes() if n.get("Alive")]) > 1:
            # Local paths exist on this node only: read them here.
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            node = ray.get_runtime_context().get_node_id()
            remote_args["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
        ds = ds.flat_map(
            _ray_read,
            fn_kwargs={
                "specs": self.cfg.by_name(),
                "validation_share": self.cfg.validation_share,
                "file": self.cfg.file,
            },
            **remote_args,
        )
        self._ds = ds.materialize()
        return self._ds


def _ray_read(item: dict, specs: dict, validation_share: float, file: str) -> list[dict]:
    return list(
        read_rows(specs[item["source"]], item["path"], item["file_index"], validation_share, file)
    )


def _tokenize_batch(rows: list[dict], tokenizer_json, eos_id, eval_ngrams) -> list[tuple]:
    ids = tokenize_texts(tokenizer_json, [r["text"] for r in rows], eos_id)
    return [
        (r["source"], r["split"], bytes(r["digest"]), contaminated(r["text"], eval_ngrams), i)
        for r, i in zip(rows, ids, strict=True)
    ]


def _ray_tokenize(table, tokenizer_json: str, eos_id: int, eval_ngrams: dict):
    import pyarrow as pa

    rows = table.to_pylist()
    out = _tokenize_batch(rows, tokenizer_json, eos_id, eval_ngrams)
    return pa.table(
        {
            "source": [o[0] for o in out],
            "split": [o[1] for o in out],
            "digest": pa.array([o[2] for o in out], type=pa.binary()),
            "contaminated": [o[3] for o in out],
            "ids": pa.array([o[4] for o in out], type=pa.list_(pa.int32())),
        }
    )


def _rows_from_table(table) -> list[tuple]:
    cols = table.to_pydict() if table.num_rows else {}
    if not cols:
        return []
    ids = table.column("ids").combine_chunks()
    offsets = ids.offsets.to_numpy()
    values = ids.values.to_numpy()
    return [
        (
            cols["source"][i],
            cols["split"][i],
            cols["digest"][i],
            cols["contaminated"][i],
            values[offsets[i] : offsets[i + 1]],
        )
        for i in range(table.num_rows)
    ]


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
    eng = _Engine(cfg, files, engine)
    tok_dir = os.path.join(out, "tokenizer")
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
    files = {s.name: check_source(s, cfg.file) for s in cfg.sources}
    fingerprints = _fingerprints(cfg, files)
    key = dataset_key(cfg, fingerprints, label)
    target = storage.child("_data", key)
    if target.is_complete():
        manifest = target.read_json("manifest.json")
        if target.is_local:
            verify_shards(target.local_path(), manifest)
        return DataRef(target.uri, manifest)
    if engine == "auto":
        import ray

        engine = "ray" if ray.is_initialized() else "local"
    local = Folder(os.path.join(cache_root(), "data", key))
    if not local.is_complete():
        log.info("building dataset %s with the %s engine (cached in %s)", key, engine, local.uri)
        parent = os.path.dirname(local.uri)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{key}-", dir=parent)
        try:
            manifest = build_dataset(cfg, tmp, files, fingerprints, engine)
            manifest["key"] = key
            with open(os.path.join(tmp, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
            with open(os.path.join(tmp, "_SUCCESS"), "w") as f:
                f.write("{}")
            if os.path.exists(local.uri):
                shutil.rmtree(local.uri)
            os.replace(tmp, local.uri)  # the whole folder appears at once
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        verify_shards(local.uri, local.read_json("manifest.json"))
    if os.path.abspath(target.uri) == os.path.abspath(local.uri):
        return DataRef(local.uri, local.read_json("manifest.json"))
    # Upload every file, the marker last: a reader that sees _SUCCESS sees everything.
    for dirpath, _, names in os.walk(local.uri):
        for name in sorted(names):
            if name == "_SUCCESS":
                continue
            full = os.path.join(dirpath, name)
            target.upload(full, os.path.relpath(full, local.uri))
    target.mark_success({"key": key})
    return DataRef(target.uri, target.read_json("manifest.json"))


def prepare_space_data(space, storage: Folder, engine: str = "auto") -> DataRef:
    """The dataset a search space names: its sources file, or the demo preset (built offline)."""
    from codemix_search.data import demo
    from codemix_search.data.sources import load_sources
    from codemix_search.space import sources_uri

    if space.data.sources is not None:
        cfg = load_sources(sources_uri(space.data, space.source_file))
        label = "data"
    else:
        cfg = load_sources(
            demo.build_demo(space.data.preset, space.data.vocab_size, space.data.commit_repos)
        )
        label = space.data.preset
    names = {s.name for s in cfg.sources}
    wanted = {s.name for s in space.catalog}
    if wanted - names:
        raise ConfigError(cfg.file, "sources", f"missing sources {sorted(wanted - names)}")
    return prepare_data(cfg, storage, label, engine)


# -- reading a built dataset -------------------------------------------------------------------
def shard_files(manifest: dict) -> list[str]:
    return [
        split["file"] for src in manifest["sources"].values() for split in src["splits"].values()
    ]


def verify_shards(local_dir: str, manifest: dict) -> None:
    """Every shard's size and sha256 against the manifest (~1 GB/s): a clear error otherwise."""
    for src in manifest["sources"].values():
        for entry in src["splits"].values():
            path = os.path.join(local_dir, entry["file"])
            _check_size(path, entry)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
            if h.hexdigest() != entry["sha256"]:
                raise ConfigError(
                    path,
                    "sha256",
                    f"is {h.hexdigest()[:12]}..., manifest says {entry['sha256'][:12]}...: the "
                    f"shard is corrupt; delete {local_dir} to rebuild it",
                )


def _check_size(path: str, entry: dict) -> None:
    if not os.path.exists(path):
        raise ConfigError(path, "file", "missing; delete the dataset folder to rebuild it")
    size = os.path.getsize(path)
    if size != entry["bytes"]:
        raise ConfigError(
            path,
            "bytes",
            f"{size} bytes, manifest says {entry['bytes']}: the shard is truncated or corrupt; "
            "delete the dataset folder to rebuild it",
        )


def materialize(ref_uri: str, manifest: dict) -> str:
    """A local folder holding the dataset (the folder itself when local, else a cached download
    verified against the manifest's sha256)."""
    folder = Folder(ref_uri)
    if folder.is_local:
        return folder.local_path()
    key = os.path.basename(ref_uri.rstrip("/"))
    local = os.path.join(cache_root(), "remote", key)
    if os.path.exists(os.path.join(local, "_SUCCESS")):
        return local
    files = ["manifest.json", *shard_files(manifest)]
    files += [f"tokenizer/{n}" for n in Folder(folder.file("tokenizer")).listdir()]
    if manifest.get("eval"):
        files += [f"eval/{n}" for n in Folder(folder.file("eval")).listdir()]
    for rel in files:
        folder.download(rel, os.path.join(local, rel))
    verify_shards(local, manifest)
    with open(os.path.join(local, "_SUCCESS"), "w") as f:
        f.write("{}")
    return local


def load_split(local_dir: str, manifest: dict, source: str, split: str) -> np.ndarray:
    """Memory-map one shard after checking its size against the manifest."""
    entry = manifest["sources"][source]["splits"][split]
    path = os.path.join(local_dir, entry["file"])
    _check_size(path, entry)
    return np.load(path, mmap_mode="r", allow_pickle=False)
