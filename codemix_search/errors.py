"""What broke, as types: every error we foresee is a ``CodemixError`` printed as one line.

- ``ConfigError``: bad user input (a space, a flag, a sources file). Exit 2: fix the input.
- ``DataError``: the data is wrong (a corrupt shard, a checkpoint that does not fit). Exit 2.
- ``StorageError``: storage failed past its retries (unreachable, out of space). Exit 1: a fault,
  not the user's input; rerun with ``--resume`` once storage is back (finished parts are kept).

All three survive pickling, so one raised in a Ray worker reaches the driver as itself (Ray
re-raises a task's exception by unpickling it; an ``Exception`` whose ``__init__`` takes other
arguments than ``args`` would arrive as a ``TypeError``). ``guarded(main)`` is the one place a
command turns them into ``error: <one line>`` and an exit code.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys


class CodemixError(Exception):
    """Base of our foreseen failures: ``one_line()`` names the file (or URI), the field and the
    fix; ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(self, file: str, field: str, message: str):
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(self.one_line())

    def __reduce__(self):
        # Rebuilt from the same three fields (pickle would otherwise call cls(one_line)).
        return (self.__class__._rebuild, (self.file, self.field, self.message))

    @classmethod
    def _rebuild(cls, file: str, field: str, message: str):
        e = cls.__new__(cls)
        CodemixError.__init__(e, file, field, message)
        return e

    def one_line(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        # Every line break str.splitlines knows (\r, \x0b, \x1c, \u2028, ...), not only \n: a
        # value echoed back must not split the one line (found by the property test).
        return " ".join(f"{where}: {self.message}".splitlines())


class ConfigError(CodemixError):
    """Bad user input: names the file, the field and the fix in one line (exit 2)."""

    exit_code = 2


class DataError(CodemixError):
    """The data or a model folder is not what it must be (exit 2): names it and the fix."""

    exit_code = 2


class StorageError(CodemixError):
    """Storage failed in a way retrying cannot fix now: unreachable past the retry deadline, or
    out of space. One line naming the URI and what to do; nothing half-written is left (exit 1)."""

    def __init__(self, uri: str, message: str, field: str = ""):
        super().__init__(uri, field, message)


def number(kind=float, low: float | None = None, high: float | None = None, open_low: bool = False):
    """An argparse ``type`` for a finite number in a range: ``number(int, 1)`` is a count >= 1,
    ``number(float, 0, open_low=True)`` a positive real; NaN, inf and out-of-range values are
    refused with the range in the message (one line through OneLineParser)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_kind_words(kind)}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r}: a finite number")
        too_low = low is not None and (value <= low if open_low else value < low)
        if too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{text!r}: must be {_range_words(low, high, open_low)}"
            )
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def _kind_words(kind) -> str:
    return "a whole number" if kind is int else "a number"


def _range_words(low, high, open_low) -> str:
    def show(x) -> str:
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{show(low)}, {show(high)}]"
    if low is not None:
        return f"{'>' if open_low else '>='} {show(low)}"
    return f"<= {show(high)}"


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``error: <prog>: <message>; see --help``), exit 2,
    instead of a usage block: bad flags read like every other bad input. A plain ``type=float``
    is taken as a finite float (NaN and inf refused); ranges through ``number(...)``."""

    def add_argument(self, *args, **kwargs):
        if kwargs.get("type") is float:
            kwargs["type"] = number(float)
        return super().add_argument(*args, **kwargs)

    def error(self, message: str):
        message = " ".join(message.splitlines())  # an echoed argument may hold line breaks
        print(f"error: {self.prog}: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def guarded(main):
    """Wrap a command's ``main(argv) -> int``: a ``CodemixError`` becomes ``error: <one line>``
    on stderr and its exit code (2 user input, 1 fault); nothing else is caught, so a bug still
    shows its traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except CodemixError as e:
            print(f"error: {e.one_line()}", file=sys.stderr)
            return e.exit_code

    return wrapper
