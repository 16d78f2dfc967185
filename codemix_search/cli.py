"""``codemix_search`` command.

codemix_search run --space search_spaces/tiny.yaml      # the same as codemix_search/run.py
codemix_search data {demo,build,verify,check} ...       # the data plane (data/cli.py)
codemix_search calibrate --space S [--mixtures K --seeds N]   # SNR table before a search
codemix_search plan --space S [--gpus N --gpu-type H100 --price-per-hour X] [--json]  # cost
codemix_search swarm | fit | propose TABLES ...         # regression over a swarm of runs
codemix_search export | replay | predict | transfer | dashboards ...
"""

from __future__ import annotations

import importlib
import sys

from codemix_search.errors import guarded

# Subcommand -> the module whose main(argv) runs it (imported only when used: `run` must not
# pay for scikit-learn, `data` not for Ray Tune).
COMMANDS = {
    "run": "codemix_search.run",
    "calibrate": "codemix_search.calibrate",
    "plan": "codemix_search.analysis.budget",
    "data": "codemix_search.data.cli",
    "export": "codemix_search.commands.export",
    "replay": "codemix_search.analysis.replay",
    "predict": "codemix_search.analysis.predict",
    "transfer": "codemix_search.analysis.transfer",
    "dashboards": "codemix_search.observability.dashboards",
    "swarm": "codemix_search.commands.swarm",
    "fit": "codemix_search.commands.fit",
    "propose": "codemix_search.commands.propose",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        module, argv = COMMANDS[argv[0]], argv[1:]
    else:
        module = COMMANDS["run"]  # `codemix_search --space ...` is a run
    # One place turns a foreseen error into one line and its exit code (2 input, 1 fault).
    return guarded(importlib.import_module(module).main)(argv)


if __name__ == "__main__":
    sys.exit(main())
