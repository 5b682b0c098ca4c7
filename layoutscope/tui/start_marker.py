"""Start markers: how ``benchmarks/tui.py`` learns when a real start has drawn the tensor tree.

A user's start ends when the tree with the file's tensors is on screen. Only
the app knows that moment, so a benchmark that launches ``layoutscope FILE``
in a pseudo-terminal sets :data:`ENV` to a file descriptor it passes in. The
main screen then says when the tree, and later the first tensor's panel, are
in place (:meth:`StartMarker.reached`), and the marker writes
``tree-drawn SECONDS`` / ``panel-drawn SECONDS`` when the next frame has been
handed to the terminal. SECONDS is the system's monotonic clock
(``time.monotonic()``, the same in every process).

Textual has no public "frame written" hook, so an armed marker wraps the
app's ``_display``. Without :data:`ENV` nothing is armed or wrapped: a normal
start pays one environment lookup.
"""

from __future__ import annotations

import os
import time
from typing import Optional

#: The environment variable naming the (inherited, writable) file descriptor for the marker lines.
ENV = "LAYOUTSCOPE_TREE_DRAWN_FD"


class StartMarker:
    """Writes ``{moment}-drawn SECONDS`` to a file descriptor, stamped with the frame that first shows the moment."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._due: list[str] = []

    @classmethod
    def from_environment(cls) -> Optional["StartMarker"]:
        """The marker :data:`ENV` asks for, or None when it is unset (or not a descriptor number)."""
        value = os.environ.get(ENV, "")
        return cls(int(value)) if value.isdigit() else None

    def reached(self, moment: str) -> None:
        """``moment`` (``"tree"``, ``"panel"``) is in the widgets now: the next frame written shows it."""
        self._due.append(moment)

    def attach(self, app) -> None:
        """Watch ``app``'s frames: after each one written, the moments due are reported with its time."""
        display = app._display

        def displayed(screen, renderable) -> None:
            display(screen, renderable)
            if renderable is not None and self._due and not app._batch_count:
                self.frame_written(time.monotonic())

        app._display = displayed

    def frame_written(self, seconds: float) -> None:
        """Report every moment due as shown by a frame written at ``seconds``."""
        due, self._due = self._due, []
        for moment in due:
            try:
                os.write(self.fd, f"{moment}-drawn {seconds:.6f}\n".encode())
            except OSError:
                pass  # the benchmark went away: the session must not notice
