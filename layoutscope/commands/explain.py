"""``layoutscope explain``: a tensor's strides and one element decoded from its bytes."""

from __future__ import annotations

import sys

from ..errors import UsageError
from ..gguf import Model
from . import print_json


def parse_at(text: str) -> tuple[int, int]:
    """``"3,100"`` → ``(3, 100)``."""
    parts = text.replace(" ", "").split(",")
    if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
        raise UsageError(f"--at {text!r}: expected ROW,COL, e.g. --at 3,100")
    row, col = int(parts[0]), int(parts[1])
    if row < 0 or col < 0:
        raise UsageError(f"--at {text!r}: row and col must be >= 0")
    return row, col


def run(args) -> int:
    """Print the explanation of ``args.tensor`` at ``args.at``."""
    from ..layout import explain

    row, col = parse_at(args.at)
    with Model(args.file) as model:
        tensor = model.tensor(args.tensor)
        tensor.require_data("explain")
        result = explain(tensor, row, col)
        if args.json:
            print_json(result.to_dict())
        else:
            sys.stdout.write(str(result) + "\n")
    return 0
