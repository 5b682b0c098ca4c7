"""The command line's stdout: a closed or full stdout is one error line and exit 1, said once.

``layoutscope info model.gguf >&-`` starts with no stdout at all (Python sets
``sys.stdout`` to None), and ``> /dev/full`` fails on the first flush. While
a command runs, :func:`guarded_stdout` puts a stream in ``sys.stdout`` that
turns either into :class:`~layoutscope.errors.OutputError`. Python flushes
stdout once more at exit and reports a failure there on its own ("Exception
ignored ..."); :func:`settle` flushes first and, if stdout is broken, points
file descriptor 1 at /dev/null so that last flush has nothing to say. A closed
pipe (``| head``) is not an error at all, as before.
"""

from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager
from typing import Iterator

from layoutscope.report.destinations import GuardedStream
from layoutscope.errors import OutputError


class ClosedStdout:
    """Stands in for a stdout that was closed before the process started: every write fails (EBADF)."""

    def write(self, text: str) -> int:
        """Fail: there is nowhere to write."""
        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        """Nothing was written, so nothing to flush."""

    def isatty(self) -> bool:
        """A closed stdout is no terminal."""
        return False


def stdout_failure(exc: OSError) -> Exception:
    """The one-line error for a failed write to stdout (a broken pipe is returned as it is)."""
    if isinstance(exc, BrokenPipeError):
        return exc
    if exc.errno == errno.EBADF:
        return OutputError("stdout: cannot print the output, stdout is closed; run the command with stdout "
                           "open (redirect it to a file or to /dev/null)")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError("stdout: cannot print the output, no space left on device; free some space or "
                           "redirect stdout elsewhere")
    return OutputError(f"stdout: cannot print the output ({exc.strerror or exc}); redirect stdout elsewhere")


@contextmanager
def guarded_stdout() -> Iterator[None]:
    """``sys.stdout`` replaced by a guarded stream for the duration (restored afterwards)."""
    original = sys.stdout
    sys.stdout = GuardedStream(original if original is not None else ClosedStdout(), stdout_failure)
    try:
        yield
    finally:
        sys.stdout = original


def flush() -> None:
    """Flush stdout now, so a failure is reported by the command and not by the interpreter at exit."""
    sys.stdout.flush()


def settle() -> None:
    """Make the interpreter's exit flush silent: flush once more, and if that fails, send fd 1 to /dev/null."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.flush()
    except (OSError, OutputError, ValueError):
        silence()


def silence() -> None:
    """Point file descriptor 1 at /dev/null (what is still buffered for a broken stdout is dropped)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
