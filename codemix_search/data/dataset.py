"""The read side of a built dataset: where it is, its shards checked against the manifest, a
local copy for a worker. Trials and the training loop import this, never the builder."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from codemix_search.errors import DataError
from codemix_search.storage.folder import Folder, cache_root, is_complete_dir  # noqa: F401 - cache_root re-exported
from codemix_search.storage.layout import DatasetLayout


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
                raise DataError(
                    path,
                    "sha256",
                    f"is {h.hexdigest()[:12]}..., manifest says {entry['sha256'][:12]}...: the "
                    f"shard is corrupt; delete {local_dir} to rebuild it",
                )


def _check_size(path: str, entry: dict) -> None:
    if not os.path.exists(path):
        raise DataError(path, "file", "missing; delete the dataset folder to rebuild it")
    size = os.path.getsize(path)
    if size != entry["bytes"]:
        raise DataError(
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
    if is_complete_dir(local):
        return local
    files = [DatasetLayout.MANIFEST, *shard_files(manifest)]
    for sub in (DatasetLayout.TOKENIZER, *([DatasetLayout.EVAL] if manifest.get("eval") else [])):
        files += [f"{sub}/{n}" for n in Folder(folder.file(sub)).listdir()]
    for rel in files:
        folder.download(rel, os.path.join(local, rel))
    verify_shards(local, manifest)
    return Folder(local).fetch_to(local, [])


def load_split(local_dir: str, manifest: dict, source: str, split: str) -> np.ndarray:
    """Memory-map one shard after checking its size against the manifest."""
    entry = manifest["sources"][source]["splits"][split]
    path = os.path.join(local_dir, entry["file"])
    _check_size(path, entry)
    return np.load(path, mmap_mode="r", allow_pickle=False)
