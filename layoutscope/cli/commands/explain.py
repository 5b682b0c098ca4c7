"""``layoutscope explain``: a tensor's strides and one element decoded from its bytes."""

from __future__ import annotations

from layoutscope.gguf import Model
from layoutscope.measure.settings import position
from layoutscope.cli.outputs import Outputs


def parse_at(text) -> tuple[int, int]:
    """``"3,100"`` → ``(3, 100)`` (the CLI parses ``--at`` already; a tuple passes through)."""
    return tuple(text) if isinstance(text, tuple) else position(text, "--at")


def from_end(index: int, size: int) -> int:
    """A negative index counted from the end, as in Python (``-1`` is the last); others unchanged."""
    return index + size if -size <= index < 0 else index


def run(args) -> int:
    """Print the explanation of ``args.tensor`` at ``args.at``."""
    from layoutscope.layout.blocks import explain

    row, col = parse_at(args.at)
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths)
        tensor = model.tensor(args.tensor)
        tensor.require_data("explain")
        result = explain(tensor, from_end(row, tensor.n_rows), from_end(col, tensor.ne[0]))
        outputs.export_json(result.to_dict())
        outputs.print_report(lambda: str(result) + "\n", result.to_dict)
    outputs.finish()
    return 0
