"""One error type for bad user input, printed as one line and exit code 2 (never a traceback)."""

from __future__ import annotations


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
