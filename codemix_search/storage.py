"""Every path goes through fsspec: one small folder helper with atomic writes and markers.

A run folder may be a local path, ``memory://``, ``s3://bucket/prefix`` or any fsspec URI. Writes
go to a temporary name and are then moved into place, so a reader never sees half a recipe; a folder
is complete only once its ``_SUCCESS`` marker exists, which is what makes reruns resume.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec
import yaml
from fsspec.core import url_to_fs

SUCCESS = "_SUCCESS"


@dataclass(frozen=True)
class Folder:
    """A folder on any fsspec filesystem; ``uri`` is what the user typed (path or URL)."""

    uri: str

    def __post_init__(self):
        if not self.uri:
            raise ValueError("empty storage URI")

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return url_to_fs(self.uri)[0]

    @property
    def path(self) -> str:
        """The path inside the filesystem (no protocol), as fs methods want it."""
        return url_to_fs(self.uri)[1]

    @property
    def is_local(self) -> bool:
        return "://" not in self.uri or self.uri.startswith("file://")

    def local_path(self) -> str:
        if not self.is_local:
            raise ValueError(f"{self.uri} is not a local folder")
        return os.path.abspath(self.path)

    def child(self, *parts: str) -> Folder:
        base = self.uri.rstrip("/")
        return Folder(posixpath.join(base, *parts) if "://" in base else os.path.join(base, *parts))

    def file(self, name: str) -> str:
        """Full URI of a file inside this folder."""
        return self.child(name).uri

    def _p(self, name: str) -> str:
        return posixpath.join(self.path.rstrip("/"), name) if name else self.path

    def makedirs(self) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def exists(self, name: str = "") -> bool:
        return self.fs.exists(self._p(name))

    def listdir(self) -> list[str]:
        if not self.fs.exists(self.path):
            return []
        return sorted(
            posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.path, detail=False)
        )

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open(self._p(name), "rb") as f:
            return f.read()

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_text(name))

    def read_yaml(self, name: str) -> Any:
        return yaml.safe_load(self.read_text(name))

    def write_bytes(self, name: str, data: bytes) -> str:
        """Atomic write: temp name in the same folder, then a rename (a copy+delete on S3, whose
        PUT is atomic per object anyway, so readers never see a partial file)."""
        self.makedirs()
        final = self._p(name)
        parent = posixpath.dirname(final)
        if parent != self.path.rstrip("/"):
            self.fs.makedirs(parent, exist_ok=True)
        tmp = posixpath.join(parent, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(final)}")
        try:
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            self.fs.mv(tmp, final)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        return self.file(name)

    def write_text(self, name: str, text: str) -> str:
        return self.write_bytes(name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> str:
        return self.write_text(name, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    def write_yaml(self, name: str, obj: Any) -> str:
        return self.write_text(name, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))

    def upload(self, local_file: str, name: str) -> str:
        """Copy a local file in atomically (temp + rename)."""
        self.makedirs()
        final = self._p(name)
        self.fs.makedirs(posixpath.dirname(final), exist_ok=True)
        tmp = posixpath.join(posixpath.dirname(final), f".tmp-{uuid.uuid4().hex}")
        self.fs.put_file(local_file, tmp)
        self.fs.mv(tmp, final)
        return self.file(name)

    def download(self, name: str, local_file: str) -> str:
        os.makedirs(os.path.dirname(os.path.abspath(local_file)), exist_ok=True)
        tmp = f"{local_file}.tmp-{uuid.uuid4().hex}"
        self.fs.get_file(self._p(name), tmp)
        os.replace(tmp, local_file)
        return local_file

    def mark_success(self, info: dict | None = None) -> None:
        self.write_json(SUCCESS, info or {})

    def is_complete(self) -> bool:
        return self.exists(SUCCESS)
