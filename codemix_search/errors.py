"""One error type for bad user input, printed as one line and exit code 2 (never a traceback)."""

from __future__ import annotations

import argparse
import sys


class ConfigError(Exception):
    """Bad user input: names the file, the field and the fix in one line.

    The CLI catches it, prints ``error: <file>: <field>: <message>`` to stderr and exits 2.
    """

    def __init__(self, file: str, field: str, message: str):
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}".replace("\n", " ")


class StorageError(ConfigError):
    """Storage failed in a way retrying cannot fix now: unreachable past the retry deadline, or
    out of space. One line naming the URI and what to do; nothing half-written is left."""

    def __init__(self, uri: str, message: str):
        super().__init__(uri, "", message)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``error: <prog>: <message>; see --help``), exit 2,
    instead of a usage block: bad flags read like every other bad input."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)
