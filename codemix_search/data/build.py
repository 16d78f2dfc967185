"""Build (or reuse) the demo dataset: corpora -> tokenizer -> shards + eval items -> manifest.

The dataset lives in ``<storage>/_data/<key>/`` where the key hashes everything that determines it
(preset, vocabulary, commit repositories' HEADs, builder version). A folder with ``_SUCCESS`` is
reused as is, so a second run does not rebuild; the build itself happens in a local cache folder
(``$CODEMIX_CACHE`` or ``~/.cache/codemix_search``) and is then uploaded file by file, atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from codemix_search.data import demo, pack
from codemix_search.storage import Folder

log = logging.getLogger(__name__)
BUILDER_VERSION = 4


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


def dataset_key(preset: str, vocab_size: int, commit_repos: tuple[str, ...]) -> str:
    from codemix_search.evaluate import demo_suite

    ident = {
        "preset": preset,
        "vocab_size": vocab_size,
        "repos": demo.repo_heads(commit_repos),
        "builder": BUILDER_VERSION,
        "suite": demo_suite.SUITE_VERSION,
    }
    return f"{preset}-{hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]}"


def _build_local(out: str, preset: str, vocab_size: int, commit_repos: tuple[str, ...]) -> dict:
    from codemix_search.evaluate import demo_suite

    t0 = time.time()
    corpora, report = demo.build_corpora(preset, commit_repos)
    tok = pack.train_tokenizer(corpora, vocab_size, os.path.join(out, "tokenizer"))
    sources = {}
    os.makedirs(os.path.join(out, "shards"), exist_ok=True)
    for name, splits in corpora.items():
        entry = {
            "kind": demo.SOURCE_KINDS[name],
            "origin": report["sources"][name]["origin"],
            "splits": {},
        }
        for split in ("train", "val"):
            arr = pack.tokenize_documents(tok, splits[split])
            data = pack.array_bytes(arr)
            rel = f"shards/{name}.{split}.npy"
            with open(os.path.join(out, rel), "wb") as f:
                f.write(data)
            entry["splits"][split] = {
                "file": rel,
                "documents": len(splits[split]),
                "tokens": int(arr.size),
                "bytes": len(data),
                "sha256": pack.sha256_bytes(data),
                "dtype": str(arr.dtype),
            }
        sources[name] = entry
    eval_report = demo_suite.write_items(corpora, os.path.join(out, "eval"))
    return {
        "preset": preset,
        "vocab_size": len(tok),
        "tokenizer_sha256": pack.tokenizer_hash(os.path.join(out, "tokenizer")),
        "sources": sources,
        "report": report,
        "eval": eval_report,
        "build_seconds": round(time.time() - t0, 1),
        "builder_version": BUILDER_VERSION,
    }


def prepare_data(
    preset: str, vocab_size: int, commit_repos: tuple[str, ...], storage: Folder
) -> DataRef:
    key = dataset_key(preset, vocab_size, commit_repos)
    target = storage.child("_data", key)
    if target.is_complete():
        return DataRef(target.uri, target.read_json("manifest.json"))
    local = Folder(os.path.join(cache_root(), "data", key))
    if not local.is_complete():
        log.info("building demo dataset %s (one-off, cached in %s)", key, local.uri)
        parent = os.path.dirname(local.uri)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{key}-", dir=parent)
        try:
            manifest = _build_local(tmp, preset, vocab_size, commit_repos)
            with open(os.path.join(tmp, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True)
            with open(os.path.join(tmp, "_SUCCESS"), "w") as f:
                f.write("{}")
            if os.path.exists(local.uri):
                shutil.rmtree(local.uri)
            os.replace(tmp, local.uri)  # the whole folder appears at once
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if os.path.abspath(target.uri) == os.path.abspath(local.uri):
        return DataRef(local.uri, local.read_json("manifest.json"))
    # Upload every file, the marker last: a reader that sees _SUCCESS sees everything.
    for dirpath, _, files in os.walk(local.uri):
        for name in sorted(files):
            if name == "_SUCCESS":
                continue
            full = os.path.join(dirpath, name)
            target.upload(full, os.path.relpath(full, local.uri))
    target.mark_success({"key": key})
    return DataRef(target.uri, target.read_json("manifest.json"))


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
    files = ["manifest.json"] + [
        split["file"] for src in manifest["sources"].values() for split in src["splits"].values()
    ]
    files += [f"tokenizer/{n}" for n in Folder(folder.file("tokenizer")).listdir()]
    files += [f"eval/{n}" for n in Folder(folder.file("eval")).listdir()]
    for rel in files:
        folder.download(rel, os.path.join(local, rel))
    with open(os.path.join(local, "_SUCCESS"), "w") as f:
        f.write("{}")
    return local


def load_split(local_dir: str, manifest: dict, source: str, split: str) -> np.ndarray:
    """Memory-map one shard after checking its size against the manifest."""
    entry = manifest["sources"][source]["splits"][split]
    path = os.path.join(local_dir, entry["file"])
    size = os.path.getsize(path)
    if size != entry["bytes"]:
        raise ValueError(
            f"{path}: {size} bytes, manifest says {entry['bytes']}: the shard is corrupt; delete the dataset folder to rebuild"
        )
    return np.load(path, mmap_mode="r", allow_pickle=False)
