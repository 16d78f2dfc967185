"""``codemix_search`` command.

codemix_search run --space search_spaces/tiny.yaml      # the same as codemix_search/run.py
codemix_search data {demo,build,verify,check} ...       # the data plane (data/cli.py)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "dashboards":
        from codemix_search.dashboards import main as dashboards_main

        return dashboards_main(argv[1:])
    if argv and argv[0] == "replay":
        from codemix_search.replay import main as replay_main

        return replay_main(argv[1:])
    if argv and argv[0] == "predict":
        from codemix_search.surrogate import main as predict_main

        return predict_main(argv[1:])
    if argv and argv[0] == "transfer":
        from codemix_search.transfer import main as transfer_main

        return transfer_main(argv[1:])
    if argv and argv[0] == "export":
        from codemix_search.export import main as export_main

        return export_main(argv[1:])
    if argv and argv[0] == "data":
        from codemix_search.data.cli import main as data_main

        return data_main(argv[1:])
    if argv and argv[0] == "run":
        argv = argv[1:]
    from codemix_search.run import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
