"""``python -m codemix_search.cli ...``: the console command (codemix_search/commands/dispatch.py)
under its old module name, which scripts and tests call."""

import sys

from codemix_search.commands.dispatch import main

if __name__ == "__main__":
    sys.exit(main())
