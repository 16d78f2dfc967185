"""Every path goes through fsspec: one small folder helper with atomic writes and markers.

A run folder may be a local path, ``memory://``, ``s3://bucket/prefix`` or any fsspec URI. Writes
go to a temporary name and are then moved into place, so a reader never sees half a recipe; a folder
is complete only once its ``_SUCCESS`` marker exists, which is what makes reruns resume.

Storage that goes away (an S3 endpoint restarting, a network blip) is retried with exponential
backoff, 0.5 s doubling to 8 s, for up to ``CODEMIX_STORAGE_RETRY_S`` seconds (default 120); s3fs's
own retries cover only ~3 s. Past that, or when the disk is full, a ``StorageError`` says so in one
line, and the temp file of the failed write is gone.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import posixpath
import time
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec
import yaml
from fsspec.core import split_protocol, url_to_fs

from codemix_search.core.yaml_bounds import DuplicateKey, safe_load_unique
from codemix_search.errors import ConfigError, DataError, StorageError

SUCCESS = "_SUCCESS"
DAMAGED_FIX = "restore it from a copy of the run (or of its bucket's versions)"


class DamagedFile(DataError, ValueError):
    """A file the product wrote is there but cannot be read (a truncated copy, an edit): one
    line naming it. Also a ValueError, for callers that skip unreadable optional files."""


log = logging.getLogger(__name__)

_TRANSIENT_ERRNO = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ECONNABORTED,
    errno.EPIPE,
}
# botocore / aiohttp connection errors are not all OSErrors; matched by name (no hard import).
_TRANSIENT_NAMES = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ClientOSError",
    "ServerTimeoutError",
}
_FULL_ERRNO = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def is_transient(e: BaseException) -> bool:
    """A connection-level failure that may pass (never a missing file or a denied request)."""
    for x in _chain(e):
        if isinstance(x, (FileNotFoundError, PermissionError)):
            return False
        if type(x).__name__ in _TRANSIENT_NAMES or isinstance(x, (ConnectionError, TimeoutError)):
            return True
        if isinstance(x, OSError) and x.errno in _TRANSIENT_ERRNO:
            return True
    return False


def is_full(e: BaseException) -> bool:
    return any(isinstance(x, OSError) and x.errno in _FULL_ERRNO for x in _chain(e))


def check_uri(uri: str, what: str) -> None:
    """Refuse a URI whose protocol fsspec does not know (or whose package is missing) up front."""
    protocol = split_protocol(uri)[0] or "file"
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ConfigError(
            uri,
            "",
            f"{what}: unknown storage protocol {protocol + '://'!r}; use a local path, "
            "s3://, gs://, memory:// or another fsspec protocol",
        ) from None
    except ImportError as e:
        raise ConfigError(
            uri,
            "",
            f"{what}: {protocol}:// needs a package that is not installed ({e}); pip install it",
        ) from None


def cache_root() -> str:
    """This machine's cache (datasets, fetched models, a remote run's journal copy)."""
    root = os.environ.get("CODEMIX_CACHE")
    if root and (os.path.exists(root) and not os.path.isdir(root) or "\x00" in root):
        raise ConfigError("CODEMIX_CACHE", "", f"{root!r} is not a folder; unset it or fix it")
    return root or os.path.join(os.path.expanduser("~"), ".cache", "codemix_search")


def retry_s() -> float:
    raw = os.environ.get("CODEMIX_STORAGE_RETRY_S", "120")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 86_400:  # NaN fails this too
        raise ConfigError(
            "CODEMIX_STORAGE_RETRY_S", "", f"{raw!r}: seconds in [0, 86400] (default 120)"
        )
    return value


@dataclass(frozen=True)
class Folder:
    """A folder on any fsspec filesystem; ``uri`` is what the user typed (path or URL)."""

    uri: str

    def __post_init__(self):
        # A path a person typed reaches here from many flags: an empty one or an unknown
        # protocol is one line, not a ValueError from deep inside fsspec.
        if not self.uri or not self.uri.strip():
            raise ConfigError("(empty path)", "", "give a folder or a URI (s3://bucket/prefix)")
        if "://" in self.uri:
            check_uri(self.uri, "path")
            if not self.uri.split("://", 1)[1].strip("/") and not self.uri.startswith("file:"):
                raise ConfigError(self.uri, "", "names no bucket or folder; give one")

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
        return self._retrying(
            f"checking {name or 'the folder'}", lambda: self.fs.exists(self._p(name))
        )

    def remove(self, name: str) -> None:
        """Delete one file (gone already is fine)."""
        path = self._p(name)
        self._retrying(f"removing {name}", lambda: self.fs.exists(path) and self.fs.rm(path))

    def listdir(self) -> list[str]:
        def names() -> list[str]:
            if not self.fs.exists(self.path):
                return []
            return sorted(
                posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.path, detail=False)
            )

        return self._retrying("listing the folder", names)

    def _retrying(self, what: str, fn):
        """Run ``fn()``; retry transient failures with backoff until the deadline."""
        deadline = time.monotonic() + retry_s()
        wait = 0.5
        while True:
            try:
                return fn()
            except Exception as e:  # noqa: BLE001 - classified below, re-raised if not ours
                if "Credential" in type(e).__name__:  # botocore's NoCredentialsError & co
                    raise ConfigError(
                        self.uri,
                        "",
                        f"{str(e)[:120]}; set the store's credentials in the environment "
                        "(e.g. AWS_ACCESS_KEY_ID / AWS_PROFILE) or an instance role",
                    ) from None
                if is_full(e):
                    raise StorageError(
                        self.uri,
                        f"no space left {what} ({e.__class__.__name__}: {e}); free space or write "
                        "elsewhere, then rerun (finished parts are kept)",
                    ) from e
                if not is_transient(e):
                    raise
                if time.monotonic() + wait > deadline:
                    raise StorageError(
                        self.uri,
                        f"unreachable {what} for {retry_s():.0f} s ({e.__class__.__name__}); "
                        "check the endpoint and credentials, then rerun with --resume "
                        "(finished trials are kept)",
                    ) from e
                log.warning("storage %s unreachable %s; retrying in %.1f s", self.uri, what, wait)
                time.sleep(wait)  # backoff between retries of a failed request
                wait = min(wait * 2, 8.0)

    def read_bytes(self, name: str) -> bytes:
        def read():
            with self.fs.open(self._p(name), "rb") as f:
                return f.read()

        try:
            return self._retrying(f"reading {name}", read)
        except IsADirectoryError:
            raise ConfigError(self.file(name), "", "a folder, not a file; give the file") from None
        except NotADirectoryError:
            raise ConfigError(self.file(name), "", "a path through a file; check it") from None

    def read_text(self, name: str) -> str:
        data = self.read_bytes(name)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(self.file(name), "", "not UTF-8 text (a binary file?)") from None

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read_text(name))
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise DamagedFile(
                self.file(name), "", f"damaged: not JSON ({e}); {DAMAGED_FIX}"
            ) from None

    def read_yaml(self, name: str) -> Any:
        try:
            return safe_load_unique(self.read_text(name))
        except DuplicateKey as e:  # written by a person, not damaged: say which key
            raise ConfigError(self.file(name), f"line {e.mark.line + 1}", e.problem) from None
        except (yaml.YAMLError, ValueError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DamagedFile(
                self.file(name), "", f"damaged: not YAML ({first}); {DAMAGED_FIX}"
            ) from None

    def write_bytes(self, name: str, data: bytes) -> str:
        """Atomic write: temp name in the same folder, then a rename (a copy+delete on S3, whose
        PUT is atomic per object anyway, so readers never see a partial file). Retried whole."""
        return self._retrying(f"writing {name}", lambda: self._write_once(name, data))

    def _write_once(self, name: str, data: bytes) -> str:
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
            try:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
            except Exception:  # noqa: BLE001 - storage down: the temp name is never read
                pass
        return self.file(name)

    def create_exclusive(self, name: str, data: bytes) -> bool:
        """Write ``name`` only if it does not exist, atomically: True when this call created it,
        False when it was there. Local: the content goes to a temp file that is hard-linked to
        the name (``link`` fails if the name exists; readers never see a partial file). Object
        stores: a conditional PUT (S3's ``If-None-Match: *``, s3fs mode ``xb``). A filesystem
        offering neither raises ``NotImplementedError`` (the caller falls back to a lease)."""
        self.makedirs()
        final = self._p(name)
        if self.is_local:
            tmp = f"{final}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            try:
                os.link(tmp, final)
                return True
            except FileExistsError:
                return False
            finally:
                os.remove(tmp)
        try:
            with self.fs.open(final, "xb") as f:
                f.write(data)
            return True
        except FileExistsError:
            return False
        except (ValueError, TypeError) as e:  # this filesystem has no exclusive create mode
            raise NotImplementedError(str(e)) from None

    def write_text(self, name: str, text: str) -> str:
        return self.write_bytes(name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> str:
        return self.write_text(name, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    def write_yaml(self, name: str, obj: Any) -> str:
        return self.write_text(name, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))

    def upload(self, local_file: str, name: str) -> str:
        """Copy a local file in atomically (temp + rename). Retried whole."""
        return self._retrying(f"uploading {name}", lambda: self._upload_once(local_file, name))

    def _upload_once(self, local_file: str, name: str) -> str:
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

    def publish_from(self, local_dir: str, info: dict | None = None, files=None) -> None:
        """Copy a local folder's files in (each atomically), then ``_SUCCESS``: a reader that
        sees the marker sees every file. ``files``: relative names, default every file."""
        if files is None:
            files = sorted(
                os.path.relpath(os.path.join(d, n), local_dir)
                for d, _, names in os.walk(local_dir)
                for n in names
                if n != SUCCESS
            )
        for rel in files:
            self.upload(os.path.join(local_dir, rel), rel.replace(os.sep, "/"))
        self.mark_success(info)

    def fetch_to(self, local_dir: str, files: list[str]) -> str:
        """Download ``files`` (relative names) into ``local_dir``, then its ``_SUCCESS``."""
        for rel in files:
            self.download(rel, os.path.join(local_dir, rel))
        with open(os.path.join(local_dir, SUCCESS), "w") as f:
            f.write("{}")
        return local_dir


def is_complete_dir(local_dir: str) -> bool:
    return os.path.exists(os.path.join(local_dir, SUCCESS))
