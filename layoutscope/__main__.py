"""``python -m layoutscope`` runs the command line."""

import sys

from layoutscope.cli import main

sys.exit(main())
