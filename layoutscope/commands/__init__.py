"""One module per subcommand; ``run(name, args)`` imports and runs it."""

from __future__ import annotations

import importlib


def run(name: str, args) -> int:
    """Import ``layoutscope.commands.<name>`` and call its ``run(args)``."""
    return importlib.import_module(f"{__name__}.{name}").run(args)


def print_json(data) -> None:
    """Print ``data`` as indented JSON on stdout (every ``--json`` report)."""
    import json
    import sys

    json.dump(data, sys.stdout, indent=2, allow_nan=False)  # non-finite numbers are strings (jsonable)
    sys.stdout.write("\n")
