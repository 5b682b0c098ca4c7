"""Start markers: how ``benchmarks/tui.py`` learns when a real start has drawn the tensor tree.

A user's start ends when the tree with the file's tensors is on screen. Only
the app knows that moment, so a benchmark that launches ``layoutscope FILE``
in a pseudo-terminal sets :data:`ENV` to a file descriptor it passes in. The
main screen then writes one line per moment, ``tree-drawn SECONDS`` right
after the first repaint that shows the opened model's tree, and
``panel-drawn SECONDS`` after the one that also shows the first tensor's
panel. SECONDS is the system's monotonic clock (``time.monotonic()``, the
same in every process). Without :data:`ENV` nothing is armed: a normal start
pays one environment lookup.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

#: The environment variable naming the (inherited, writable) file descriptor for the marker lines.
ENV = "LAYOUTSCOPE_TREE_DRAWN_FD"


def marker_from_environment() -> Optional[Callable[[str], None]]:
    """A callable writing ``{moment}-drawn SECONDS`` lines to the descriptor :data:`ENV` names; None when unset."""
    value = os.environ.get(ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)

    def mark(moment: str) -> None:
        try:
            os.write(fd, f"{moment}-drawn {time.monotonic():.6f}\n".encode())
        except OSError:
            pass  # the benchmark went away: the session must not notice

    return mark
