"""One live driver per run folder: ``<run>/run.lock`` names its holder (host, pid, a token) and
a heartbeat. A second ``run --name SAME`` (or ``--resume``) while the first is alive is refused in
one line; a lock whose holder is gone (its process ended on this host, or no heartbeat for
``STALE_S`` from another host) is taken over, with a line saying so."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

from codemix_search.errors import ConfigError, StorageError
from codemix_search.storage.folder import Folder

LOCK = "run.lock"
TAKEOVER = "run.lock.takeover"
# A takeover file older than this belongs to a driver that died between its two writes (a
# takeover takes milliseconds).
TAKEOVER_S = 60.0
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
        return self._read(LOCK)

    def acquire(self) -> RunLock:
        """Create the lock exclusively; if it is there and its holder is gone, take it over
        under a second exclusive file (``run.lock.takeover``), so that of two drivers taking
        over the same stale lock at once exactly one wins (the other is refused in one line)."""
        started = time.time()
        mine = json.dumps(self._info(started)).encode()
        try:
            if not self.run.create_exclusive(LOCK, mine):
                self._take_over(mine)
        except NotImplementedError:
            self._lease(started)  # a store without exclusive create: write, then read back
        self._thread = threading.Thread(target=self._beat, args=(started,), daemon=True)
        self._thread.start()
        return self

    def _refuse_if_alive(self, held: dict | None) -> None:
        if held and _alive(held, time.time()):
            raise ConfigError(
                "--name",
                "",
                f"run {self.run.uri} is being written by pid {held.get('pid')} on "
                f"{held.get('host')} (since {_clock(held.get('started'))}); wait for it to end, "
                "or pick another --name; if that machine is gone, its lock expires at "
                f"{_clock(float(held.get('heartbeat', 0)) + STALE_S)} (no heartbeat for {STALE_S:.0f} s)",
            )

    def _take_over(self, mine: bytes) -> None:
        held = self._held_by()
        self._refuse_if_alive(held)
        taken = ConfigError("--name", "", f"run {self.run.uri} was just taken by another driver")
        if not self.run.create_exclusive(TAKEOVER, mine):
            other = self._read(TAKEOVER)
            if other is None or time.time() - float(other.get("heartbeat", 0)) < TAKEOVER_S:
                raise taken
            # A takeover that died half-way (its driver killed between the two files): gone.
            self.run.remove(TAKEOVER)
            if not self.run.create_exclusive(TAKEOVER, mine):
                raise taken
        try:
            now = self._held_by()
            if (now or {}).get("token") != (held or {}).get("token"):
                self._refuse_if_alive(now)  # someone took it between our two reads
                raise taken
            self.run.write_bytes(LOCK, mine)
            self.took_over = held or {}
        finally:
            self.run.remove(TAKEOVER)

    def _lease(self, started: float) -> None:
        held = self._held_by()
        self._refuse_if_alive(held)
        self.took_over = held
        self.run.write_json(LOCK, self._info(started))
        # Without exclusive create: read back, and the later writer of a race sees the other's
        # token and backs off (a lease, not a guarantee; docs/reliability.md).
        if (self._held_by() or {}).get("token") != self.token:
            raise ConfigError("--name", "", f"run {self.run.uri} was just taken by another driver")

    def _read(self, name: str) -> dict | None:
        try:
            return self.run.read_json(name)
        except (FileNotFoundError, ValueError):
            return None

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
