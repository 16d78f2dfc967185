import sys

from codemix_search.cli import main

sys.exit(main())
