"""`python -m ftsim ...` is the `ftsim` command."""

import sys

from ftsim.api.cli import main

if __name__ == "__main__":
    sys.exit(main())
