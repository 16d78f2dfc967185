"""The Optuna study of a remote run, kept in the run folder so that a new head continues it.

Optuna's journal storage is an append-only log of operations; ``RunJournal`` appends to a local
copy (Optuna's own file backend) and copies the file to ``<run>/optuna.journal`` on the run's
storage. Changes of a trial's life (created, parameters, told) are copied at once; attribute
updates (several per reported result) at most every ``FLUSH_S`` seconds, so a head lost between
two copies loses at most that much of attributes, never a trial's state. The whole file goes up
each time: a 100-trial study's journal is ~200 KB, one PUT.

Pickled (Tune saves the searcher with its study), it carries only the URI: unpickled on another
machine it fetches the journal again. One writer at a time: the run lock (storage/lock.py).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalFileOpenLock

from codemix_search.storage.folder import Folder, cache_root

FLUSH_S = 10.0
# Attribute-only operations (JournalOperation 2, 3, 8, 9): copied on the next flush.
_ATTR_OPS = {2, 3, 8, 9}


def _local_copy(uri: str) -> str:
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    folder = os.path.join(cache_root(), "optuna", key)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, "journal.log")


class RunJournal(BaseJournalBackend):
    """Optuna journal backend: a local file, copied to ``uri`` (any fsspec URI)."""

    def __init__(self, uri: str, fresh: bool = False):
        self.uri = uri
        self._open(fresh)

    def _open(self, fresh: bool = False) -> None:
        parent, self._name = self.uri.rstrip("/").rsplit("/", 1)
        self._remote = Folder(parent)
        self._local = _local_copy(self.uri)
        if fresh and os.path.exists(self._local):
            os.remove(self._local)  # a new run under a name used before: not its study
        # The journal only grows: the longer copy is the newer one (this machine's, when its
        # driver died after appending and before copying; storage's on a new head).
        remote_size = (
            self._remote.fs.size(self._remote._p(self._name))
            if self._remote.exists(self._name)
            else -1
        )
        local_size = os.path.getsize(self._local) if os.path.exists(self._local) else -1
        if remote_size > local_size:
            self._remote.download(self._name, self._local)
        self._file = JournalFileBackend(self._local, lock_obj=JournalFileOpenLock(self._local))
        self._flushed = time.monotonic()
        self._dirty = False

    def read_logs(self, log_number_from: int):
        return self._file.read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._file.append_logs(logs)
        self._dirty = True
        if any(log.get("op_code") not in _ATTR_OPS for log in logs) or (
            time.monotonic() - self._flushed >= FLUSH_S
        ):
            self.flush()

    def flush(self) -> None:
        """Copy the local journal to storage (atomic: temp + rename)."""
        if self._dirty:
            self._remote.upload(self._local, self._name)
            self._dirty = False
        self._flushed = time.monotonic()

    def __getstate__(self) -> dict:
        if getattr(self, "_dirty", False):
            self.flush()  # Tune saves the searcher: storage is at least as new as that state
        return {"uri": self.uri}

    def __setstate__(self, state: dict) -> None:
        self.uri = state["uri"]
        self._open()
