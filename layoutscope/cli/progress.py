"""Progress on stderr for long commands: a rich bar with an ETA on a terminal, one line per step otherwise.

stdout may carry the report itself (``--json``, ``--csv -``), so the bar and
the lines always go to stderr. ``with Progress("scanning") as update:`` yields
``update(done, total, description, line)``: ``description`` is shown beside
the bar, ``line`` is printed off a terminal (nothing when it is empty). Both
are made printable here; the bar's text is also escaped for rich's markup.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

from layoutscope.errors import printable

#: ``update(done, total, description, line)``; ``total`` None while unknown.
Update = Callable[[int, Optional[int], str, str], None]


class Progress:
    """A context manager yielding :data:`Update`; the bar (if any) is removed when the block ends."""

    def __init__(self, verb: str):
        self.verb = verb
        self.bar = None

    def __enter__(self) -> Update:
        if not sys.stderr.isatty():
            def on_line(done: int, total: Optional[int], description: str, line: str) -> None:
                if line:
                    print(printable(line), file=sys.stderr, flush=True)

            return on_line
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(TextColumn(self.verb), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       TextColumn("{task.description}"), console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("", total=None)

        def on_bar(done: int, total: Optional[int], description: str, line: str) -> None:
            # Escaped twice over: for the terminal (controls) and for rich (its [markup]).
            self.bar.update(task, completed=done, total=total, description=escape(printable(description)))

        return on_bar

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
