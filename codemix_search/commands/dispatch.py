"""The ``codemix_search`` console command: ``codemix_search <command> ...`` runs
``codemix_search.commands.<command>.main(argv)``.

codemix_search run --space search_spaces/tiny.yaml      # the same as codemix_search/run.py
codemix_search data {demo,build,verify,check} ...       # the data plane
codemix_search calibrate --space S [--mixtures K --seeds N]   # SNR table before a search
codemix_search plan --space S [--gpus N --gpu-type H100 --price-per-hour X] [--json]  # cost
codemix_search swarm | fit | propose TABLES ...         # regression over a swarm of runs
codemix_search export | replay | predict | transfer | dashboards | train ...
"""

from __future__ import annotations

import importlib
import sys

from codemix_search.errors import guarded

# Imported only when used (why it is a table of names, not of modules): `run` must not pay
# for scikit-learn (~1 s), `data` not for Ray Tune (~2 s).
COMMANDS = (
    "run", "calibrate", "plan", "data", "export", "replay", "predict", "transfer",
    "dashboards", "swarm", "fit", "propose", "train", "pick",
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        command, argv = argv[0], argv[1:]
    else:
        command = "run"  # `codemix_search --space ...` is a run
    module = importlib.import_module(f"codemix_search.commands.{command}")
    # One place turns a foreseen error into one line and its exit code (2 input, 1 fault).
    return guarded(module.main)(argv)
