"""The "tree drawn" marker: how ``benchmarks/tui.py`` learns when a real start reached the tensor tree.

A user's start ends when the tree with the file's tensors is on screen. Only
the app knows that moment, so a benchmark that launches ``layoutscope FILE``
in a pseudo-terminal sets :data:`ENV` to a file descriptor it passes in; the
main screen then writes one line, ``tree-drawn SECONDS\\n`` (the system's
monotonic clock, the one ``time.monotonic()`` reads in every process), right
after the first repaint that shows the populated tree. Without :data:`ENV`
nothing is armed: a normal start pays one environment lookup.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

#: The environment variable naming the (inherited, writable) file descriptor for the marker line.
ENV = "LAYOUTSCOPE_TREE_DRAWN_FD"


def marker_from_environment() -> Optional[Callable[[], None]]:
    """A callable that writes the marker line to the descriptor :data:`ENV` names; None when it is unset or invalid."""
    value = os.environ.get(ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)

    def mark() -> None:
        try:
            os.write(fd, f"tree-drawn {time.monotonic():.6f}\n".encode())
        except OSError:
            pass  # the benchmark went away: the user's session must not notice

    return mark
