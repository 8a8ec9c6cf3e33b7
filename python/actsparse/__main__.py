"""``python -m actsparse``: the same command line as ``actsparse``."""

import sys

from actsparse.cli import main

sys.exit(main())
