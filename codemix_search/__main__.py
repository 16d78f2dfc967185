import sys

from codemix_search.commands.dispatch import main

sys.exit(main())
