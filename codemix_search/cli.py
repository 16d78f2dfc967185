"""``codemix_search`` command: ``codemix_search run --space ...`` (the same as run.py)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        argv = argv[1:]
    from codemix_search.run import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
