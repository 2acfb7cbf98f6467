import sys

from ftsim.api.cli import main

sys.exit(main())
