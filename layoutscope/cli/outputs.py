"""The outputs of one command run: checked before the work, written after it, the report on stdout.

A command makes :class:`Outputs` from its arguments as soon as it knows its
input files (the model's shards), so a bad ``--csv`` or ``--json-file`` path
fails before any work. After the work it writes each export; a write that
fails is remembered rather than raised, so the report still reaches stdout
(text, or JSON with ``--json``; nothing when an export took stdout), and
:meth:`Outputs.finish` raises the first failure last: one line on stderr.
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable, Optional, TextIO

from layoutscope.report.destinations import Destination, prepare
from layoutscope.errors import OutputError, UsageError


class Outputs:
    """The ``--csv`` and ``--json-file`` destinations of ``args`` and the ``--json`` flag."""

    def __init__(self, args, models: Iterable[str] = (), inputs: Iterable[str] = ()):
        self.json = bool(getattr(args, "json", False))
        paths = {"--csv": getattr(args, "csv", None), "--json-file": getattr(args, "json_file", None)}
        self.destinations: dict = prepare(paths, models=models, inputs=inputs,
                                          stdout_taken_by="--json" if self.json else None)
        self.notices: list = []
        self._failure: Optional[Exception] = None

    def get(self, label: str) -> Optional[Destination]:
        """The destination named by ``label`` (``--csv``, ``--json-file``), if one was given."""
        return self.destinations.get(label)

    @property
    def report_on_stdout(self) -> bool:
        """False when an export goes to stdout: it replaces the report there."""
        return not any(d.is_stdout for d in self.destinations.values())

    def export(self, label: str, write: Callable[[TextIO], int], what: str = "{} rows") -> None:
        """Run ``write(stream)`` (it returns a count) into ``label``'s destination, if one was given.

        A file or device written gets the notice ``wrote <what with the count> to PATH``.
        """
        destination = self.destinations.get(label)
        if destination is None or self._failure is not None:
            return
        try:
            with destination.open() as stream:
                count = write(stream)
        except (OutputError, UsageError) as exc:
            self._failure = exc
            return
        if not destination.is_stdout:
            self.notices.append(f"wrote {what.format(count)} to {destination.shown}")

    def export_json(self, data) -> None:
        """Write ``data`` as the JSON report to ``--json-file``, if given."""
        self.export("--json-file", lambda stream: write_json(stream, data), "the JSON report")

    def print_report(self, text: Callable[[], str], data: Optional[Callable[[], object]] = None) -> None:
        """The report on stdout: ``data()`` as JSON with ``--json``, else ``text()``; nothing if stdout is taken."""
        if not self.report_on_stdout:
            return
        if self.json and data is not None:
            write_json(sys.stdout, data())
        else:
            sys.stdout.write(text())

    def finish(self) -> None:
        """Raise the first export failure, if any (after the report was printed)."""
        if self._failure is not None:
            raise self._failure


def write_json(stream: TextIO, data) -> None:
    """``data`` as indented JSON and a newline (:func:`layoutscope.measure.jsonable.write_json`)."""
    from layoutscope.measure.jsonable import write_json as write

    write(stream, data)
