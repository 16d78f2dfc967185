"""The read side of a built dataset: where it is, its shards checked against the manifest, a
local copy for a worker. Trials and the training loop import this, never the builder."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codemix_search.errors import DataError
from codemix_search.storage.folder import Folder, cache_root, is_complete_dir  # noqa: F401 - cache_root re-exported
from codemix_search.storage.layout import DatasetLayout


@dataclass(frozen=True)
class DataManifest:
    """A built dataset's ``manifest.json`` (data/build.py writes it; everything downstream reads
    it as this record, also across Ray inside a LoopConfig)."""

    sources: dict
    """Source -> {kind, format, uri, files, documents_read, duplicates_removed,
    contaminated_removed, splits: {train|val: {file, dtype, documents, tokens, bytes, sha256}}}."""
    vocab_size: int
    eos_id: int
    tokenizer_sha256: str
    key: str | None = None
    """The dataset's cache key (its folder name under <storage>/_data)."""
    eval: bool = False
    """Whether eval items were copied in (``eval/``; the demo suite needs them)."""
    builder_version: int | None = None
    engine: str | None = None
    config: dict = field(default_factory=dict)
    """The sources file it was built from (SourcesConfig.to_dict)."""
    fingerprints: dict = field(default_factory=dict)
    decontamination: dict = field(default_factory=dict)
    build_seconds: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = DatasetLayout.MANIFEST) -> DataManifest:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted({"sources", "vocab_size", "eos_id", "tokenizer_sha256"} - set(d))
        if missing:
            raise DataError(where, missing[0], "missing: not a dataset manifest; rebuild it")
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def source_names(self) -> list[str]:
        return sorted(self.sources)

    def split(self, source: str, split: str) -> dict:
        """One shard's entry: {file, dtype, documents, tokens, bytes, sha256}."""
        return self.sources[source]["splits"][split]

    def shard_files(self) -> list[str]:
        return [sp["file"] for src in self.sources.values() for sp in src["splits"].values()]

    @property
    def tokens(self) -> int:
        return sum(sp["tokens"] for src in self.sources.values() for sp in src["splits"].values())


def read_manifest(folder: Folder) -> DataManifest:
    return DataManifest.from_dict(
        folder.read_json(DatasetLayout.MANIFEST), folder.file(DatasetLayout.MANIFEST)
    )


@dataclass(frozen=True)
class DataRef:
    """Where a built dataset lives and what it holds."""

    uri: str
    manifest: DataManifest

    @property
    def folder(self) -> Folder:
        return Folder(self.uri)

    @property
    def sources(self) -> list[str]:
        return self.manifest.source_names


# -- reading a built dataset -------------------------------------------------------------------
def verify_shards(local_dir: str, manifest: DataManifest) -> None:
    """Every shard's size and sha256 against the manifest (~1 GB/s): a clear error otherwise."""
    for src in manifest.sources.values():
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


def materialize(ref_uri: str, manifest: DataManifest) -> str:
    """A local folder holding the dataset (the folder itself when local, else a cached download
    verified against the manifest's sha256)."""
    folder = Folder(ref_uri)
    if folder.is_local:
        return folder.local_path()
    key = os.path.basename(ref_uri.rstrip("/"))
    local = os.path.join(cache_root(), "remote", key)
    if is_complete_dir(local):
        return local
    files = [DatasetLayout.MANIFEST, *manifest.shard_files()]
    for sub in (DatasetLayout.TOKENIZER, *([DatasetLayout.EVAL] if manifest.eval else [])):
        files += [f"{sub}/{n}" for n in Folder(folder.file(sub)).listdir()]
    for rel in files:
        folder.download(rel, os.path.join(local, rel))
    verify_shards(local, manifest)
    return Folder(local).fetch_to(local, [])


def load_split(local_dir: str, manifest: DataManifest, source: str, split: str) -> np.ndarray:
    """Memory-map one shard after checking its size against the manifest."""
    entry = manifest.split(source, split)
    path = os.path.join(local_dir, entry["file"])
    _check_size(path, entry)
    return np.load(path, mmap_mode="r", allow_pickle=False)
