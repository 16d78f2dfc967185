"""One live driver per run folder: ``<run>/run.lock`` names its holder (host, pid, a token) and
a heartbeat. A second ``run --name SAME`` (or ``--resume``) while the first is alive is refused in
one line; a lock whose holder is gone (its process ended on this host, or no heartbeat for
``STALE_S`` from another host) is taken over, with a line saying so."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from codemix_search.errors import ConfigError, StorageError
from codemix_search.storage.folder import Folder

LOCK = "run.lock"
HEARTBEAT_S = 30.0
# Another host's lock counts as alive while its heartbeat is younger than this (10 heartbeats:
# a driver stalled on storage for minutes still holds its run).
STALE_S = 300.0


def _alive(info: dict, now: float) -> bool:
    if info.get("host") == socket.gethostname():
        try:
            os.kill(int(info["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError, TypeError):
            return False
        except PermissionError:
            return True  # a process of another user holds that pid
        return now - float(info.get("heartbeat", 0)) < STALE_S
    return now - float(info.get("heartbeat", 0)) < STALE_S


def _clock(t) -> str:
    return time.strftime("%H:%M:%S", time.localtime(float(t or 0)))


class RunLock:
    def __init__(self, run: Folder):
        self.run = run
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.took_over: dict | None = None

    def _info(self, started: float) -> dict:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "started": started,
            "heartbeat": time.time(),
        }

    def _held_by(self) -> dict | None:
        try:
            return self.run.read_json(LOCK)
        except (FileNotFoundError, ValueError):
            return None

    def acquire(self) -> RunLock:
        held = self._held_by()
        if held and _alive(held, time.time()):
            raise ConfigError(
                "--name",
                "",
                f"run {self.run.uri} is being written by pid {held.get('pid')} on "
                f"{held.get('host')} (since {_clock(held.get('started'))}); wait for it to end, "
                "or pick another --name; if that machine is gone, its lock expires at "
                f"{_clock(float(held.get('heartbeat', 0)) + STALE_S)} (no heartbeat for {STALE_S:.0f} s)",
            )
        self.took_over = held
        started = time.time()
        self.run.write_json(LOCK, self._info(started))
        # Object stores have no exclusive create: read back, and the later writer of a race
        # sees the other's token and backs off.
        if (self._held_by() or {}).get("token") != self.token:
            raise ConfigError("--name", "", f"run {self.run.uri} was just taken by another driver")
        self._thread = threading.Thread(target=self._beat, args=(started,), daemon=True)
        self._thread.start()
        return self

    def _beat(self, started: float) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if (self._held_by() or {}).get("token") == self.token:
                    self.run.write_json(LOCK, self._info(started))
            except (OSError, StorageError, ValueError):
                pass  # storage hiccup or full: the next beat retries; STALE_S spans ten of them

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if (self._held_by() or {}).get("token") == self.token:
                self.run.fs.rm(self.run.file(LOCK))
            if self.run.is_local and not os.listdir(self.run.local_path()):
                os.rmdir(self.run.local_path())  # refused before writing anything: leave nothing
        except OSError:
            pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
