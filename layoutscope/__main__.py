"""``python -m layoutscope`` runs the command line."""

import sys

from layoutscope.cli.main import main

sys.exit(main())
