"""``layoutscope dump``: dequantized values of a window, as a grid or as CSV.

The CSV is streamed: a block of rows is dequantized, formatted and written
before the next is read, so a whole tensor never sits in memory as text, and
a progress bar shows on a terminal's stderr.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from layoutscope.gguf import Model
from layoutscope.measure.settings import parse_range
from layoutscope.errors import printable
from layoutscope.cli.outputs import Outputs

DEFAULT_WINDOW = 8
#: Values dequantized, formatted and written together: about 1.5 MB of CSV text per block.
BLOCK_VALUES = 1 << 16


def run(args) -> int:
    """Print the dequantized window as a grid, or stream it as CSV to ``--csv``."""
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths)
        tensor = model.tensor(args.tensor)
        tensor.require_data("dump")
        if not tensor.type.can_dequantize:
            raise NotImplementedError(f"{tensor.name}: {tensor.type.unavailable_reason()}")
        # The grid is for eyes (an 8×8 window); a CSV export defaults to everything.
        default = DEFAULT_WINDOW if args.csv is None else max(tensor.n_rows, tensor.ne[0])
        rows = parse_range(args.rows, tensor.n_rows, "rows", default)
        cols = parse_range(args.cols, tensor.ne[0], "cols", default)
        if args.csv is None:
            # The grid is built whole (its columns are aligned over every cell): the decoded rows, and
            # about 80 bytes per cell of Python text.
            from layoutscope.measure.memory import require

            require(len(rows) * (4 * tensor.ne[0] + 80 * len(cols)),
                    f"a grid of {len(rows)}×{len(cols)} values of {printable(tensor.name)}",
                    "show fewer --rows/--cols, or stream them with --csv PATH")
            values = tensor.dequantize(slice(rows.start, rows.stop))[:, cols.start : cols.stop]
            sys.stdout.write(_grid(tensor.name, rows, cols, values))
            return 0
        with _progress(len(rows)) as advance:
            outputs.export("--csv", lambda stream: write_csv(stream, tensor, rows, cols, advance), "{} values")
    for notice in outputs.notices:
        print(notice, file=sys.stderr)
    outputs.finish()
    return 0


def write_csv(stream, tensor, rows: range, cols: range, progress=None) -> int:
    """Stream ``row,col,value`` CSV of the window, a block of rows at a time; returns the values written.

    Values are the shortest round-trip text (bit-exact float32), computed for a whole block at once.
    """
    from layoutscope.report.numbers import shortest_texts

    stream.write("row,col,value\n")
    col_prefixes = [f"{c}," for c in cols]
    width = len(cols)
    step = max(1, BLOCK_VALUES // width)
    for start in range(rows.start, rows.stop, step):
        stop = min(start + step, rows.stop)
        values = tensor.dequantize(slice(start, stop))[:, cols.start : cols.stop]
        texts = shortest_texts(values)
        lines = []
        for i, r in enumerate(range(start, stop)):
            head = f"{r},"
            # "r,c,value" per column, joined so each line starts with "r,".
            lines.append(head + ("\n" + head).join(map(str.__add__, col_prefixes, texts[i * width:(i + 1) * width])))
        stream.write("\n".join(lines) + "\n")
        if progress is not None:
            progress(stop - start)
    return len(rows) * len(cols)


@contextmanager
def _progress(total_rows: int) -> Iterator[Callable[[int], None]]:
    """A callback advancing a rich progress bar on stderr by rows; nothing when stderr is no terminal."""
    if sys.stderr is None or not sys.stderr.isatty():
        yield lambda rows: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # rich's default console is stdout, which may be the CSV itself (--csv -).
    bar = Progress(TextColumn("dumping rows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("", total=total_rows)
    with bar:
        yield lambda rows: bar.advance(task, rows)


def _grid(name: str, rows: range, cols: range, values) -> str:
    from layoutscope.report.numbers import shortest_text

    cells = [[shortest_text(v) for v in line] for line in values]
    width = max([len(str(c)) for c in cols] + [len(x) for line in cells for x in line] + [1])
    label = max(len(str(rows.stop)), 3)
    lines = [f"{printable(name)} rows {rows.start}:{rows.stop} cols {cols.start}:{cols.stop} (dequantized float32)"]
    lines.append(" " * (label + 1) + " ".join(str(c).rjust(width) for c in cols))
    for r, line in zip(rows, cells):
        lines.append(str(r).rjust(label) + " " + " ".join(x.rjust(width) for x in line))
    return "\n".join(lines) + "\n"
