"""``python codemix_search/run.py --space search_spaces/demo.yaml``: the README's entry, kept as
a file so ``ray job submit --working-dir . -- python codemix_search/run.py ...`` works from a
checkout; the command itself is codemix_search/commands/run.py (``codemix_search run``)."""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script, Python puts codemix_search/ itself first on sys.path, where our
    # subpackages (evaluate/, data/) would shadow real top-level packages (HF `evaluate`).
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.dirname(_here))

from codemix_search.commands.run import main  # noqa: E402
from codemix_search.errors import guarded  # noqa: E402

if __name__ == "__main__":
    sys.exit(guarded(main)())
