"""``layoutscope dump``: dequantized values of a window, as a grid or as CSV."""

from __future__ import annotations

import csv
import sys

from ..errors import UsageError
from ..gguf import Model

DEFAULT_WINDOW = 8


def parse_range(text: str | None, size: int, what: str, default: int = DEFAULT_WINDOW) -> range:
    """``"A:B"``, ``"A:"``, ``":B"``, ``":"`` or ``"A"`` → a range clipped to ``size``.

    Without ``text``, the first ``default`` indices.
    """
    if text is None:
        return range(0, min(default, size))
    parts = text.split(":")
    try:
        if len(parts) == 1:
            i = int(parts[0])
            bounds = (i, i + 1)
        elif len(parts) == 2:
            bounds = (int(parts[0]) if parts[0] else 0, int(parts[1]) if parts[1] else size)
        else:
            raise ValueError
    except ValueError:
        raise UsageError(f"--{what} {text!r}: expected A:B, A:, :B or A") from None
    start, stop = bounds
    if not 0 <= start < size or stop <= start:
        raise UsageError(f"--{what} {text!r}: outside 0..{size - 1} or empty")
    return range(start, min(stop, size))


def run(args) -> int:
    """Print or export the dequantized window."""
    from ..formats._common import fmt

    with Model(args.file) as model:
        tensor = model.tensor(args.tensor)
        tensor.require_data("dump")
        if not tensor.type.can_dequantize:
            raise NotImplementedError(f"{tensor.name}: {tensor.type.unavailable_reason()}")
        # The grid is for eyes (an 8×8 window); a CSV export defaults to everything.
        default = DEFAULT_WINDOW if args.csv is None else max(tensor.n_rows, tensor.ne[0])
        rows = parse_range(args.rows, tensor.n_rows, "rows", default)
        cols = parse_range(args.cols, tensor.ne[0], "cols", default)
        values = tensor.dequantize(slice(rows.start, rows.stop))[:, cols.start : cols.stop]
        if args.csv is None:
            sys.stdout.write(_grid(tensor.name, rows, cols, values, fmt))
        elif args.csv == "-":
            _write_csv(sys.stdout, rows, cols, values, fmt)
        else:
            from ..atomic import atomic_text_writer

            with atomic_text_writer(args.csv) as stream:
                _write_csv(stream, rows, cols, values, fmt)
            print(f"wrote {len(rows) * len(cols)} values to {args.csv}", file=sys.stderr)
    return 0


def _write_csv(stream, rows: range, cols: range, values, fmt) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(("row", "col", "value"))
    for i, r in enumerate(rows):
        writer.writerows((r, c, fmt(values[i, j])) for j, c in enumerate(cols))


def _grid(name: str, rows: range, cols: range, values, fmt) -> str:
    cells = [[fmt(v) for v in line] for line in values]
    width = max([len(str(c)) for c in cols] + [len(x) for line in cells for x in line] + [1])
    label = max(len(str(rows.stop)), 3)
    lines = [f"{name} rows {rows.start}:{rows.stop} cols {cols.start}:{cols.stop} (dequantized float32)"]
    lines.append(" " * (label + 1) + " ".join(str(c).rjust(width) for c in cols))
    for r, line in zip(rows, cells):
        lines.append(str(r).rjust(label) + " " + " ".join(x.rjust(width) for x in line))
    return "\n".join(lines) + "\n"
