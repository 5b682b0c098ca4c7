"""SIGTERM and SIGHUP end a command the way Ctrl-C does: an exception that unwinds every ``finally``.

Python turns SIGINT into KeyboardInterrupt, so temporary files are removed and
a scan keeps its finished rows. SIGTERM (``kill``, a service manager) and
SIGHUP (a closed SSH session) would otherwise end the process on the spot and
leave a temporary export behind. :func:`install` makes them raise
:class:`Terminated`, a KeyboardInterrupt, so every path that handles Ctrl-C
handles them too; the exit code is 128 + the signal's number, as a shell
reports a process killed by it.
"""

from __future__ import annotations

import signal
from typing import Callable, Optional

#: The signals handled like SIGINT.
HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The last signal turned into :class:`Terminated` (None: none, or only SIGINT).
received: Optional[int] = None


def _raise(signum: int, frame) -> None:
    global received
    received = signum
    raise Terminated(signum)


def install() -> Callable[[], None]:
    """Make SIGTERM and SIGHUP raise :class:`Terminated`; returns a function restoring the old handlers.

    A no-op outside the main thread, where Python cannot set signal handlers.
    """
    global received
    received = None
    previous = {}
    try:
        for sig in HANDLED:
            previous[sig] = signal.signal(sig, _raise)
    except ValueError:
        pass

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def exit_code(exc: Optional[BaseException] = None) -> int:
    """128 + the signal that ended the command (``exc``'s, else the last received), SIGINT by default."""
    signum = getattr(exc, "signum", None) or received or signal.SIGINT
    return 128 + int(signum)
