"""One module per subcommand; ``run(name, args)`` imports and runs it."""

from __future__ import annotations

import importlib


def run(name: str, args) -> int:
    """Import ``layoutscope.cli.commands.<name>`` and call its ``run(args)``."""
    return importlib.import_module(f"{__name__}.{name}").run(args)



def print_json(data) -> None:
    """Print ``data`` as indented JSON on stdout (non-finite numbers as "inf", "-inf", "nan")."""
    import sys

    from layoutscope.cli.outputs import write_json

    write_json(sys.stdout, data)
