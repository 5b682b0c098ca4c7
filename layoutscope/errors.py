"""Turn exceptions into the one-line messages and exit codes of the error policy.

Bad input (a file that is missing, not GGUF or corrupt; an unknown tensor; a
bad option value, an output path that cannot be used) is exit 2. A resource
that is unavailable (libggml, the NPU runtime, memory for a request), an NPU
call that fails, or an output that cannot be written (a full disk, a closed
stdout) is exit 1. Anything else is a bug: exit 1 with a pointer to
``--debug``. Every message is escaped and bounded to one line, whatever the
exception put in it.
"""

from __future__ import annotations

import errno

from layoutscope.printable import clipped_path, printable

EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_BAD_INPUT = 2
EXIT_VERDICT = 3


#: Longest error line printed. Messages quote inputs clipped; this catches any that does not.
MAX_LINE = 400


class UsageError(ValueError):
    """A command-line value that cannot be used; the message says which and why."""


class ResourceError(RuntimeError):
    """A request this machine cannot serve (e.g. more memory than is available); exit 1, one line."""


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` as one safe terminal line: controls escaped, and the middle cut when over ``limit`` characters.

    The middle goes, not the end, so the advice that closes a message survives.
    """
    text = printable(text)
    if len(text) <= limit:
        return text
    head, tail = (2 * limit) // 3, limit // 3
    return f"{text[:head]} … {text[-tail:]}"


class OutputError(Exception):
    """An output that could not be written for a reason outside the command line (a full disk, a closed
    stdout): exit 1; the message names the destination, why, and what to do."""


def classify(exc: BaseException) -> tuple[int, str]:
    """``(exit_code, one_line_message)`` for ``exc``; the message is escaped and bounded (:func:`one_line`)."""
    code, line = _classify(exc)
    return code, one_line(line)


def _classify(exc: BaseException) -> tuple[int, str]:
    from layoutscope.gguf.errors import GGUFError

    if isinstance(exc, GGUFError):
        return EXIT_BAD_INPUT, exc.line()
    if isinstance(exc, UsageError):
        return EXIT_BAD_INPUT, str(exc)
    if isinstance(exc, (ResourceError, OutputError)):
        return EXIT_UNAVAILABLE, str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or str(exc)
        name = clipped_path(exc.filename)
        if exc.errno == errno.ENOENT:
            return EXIT_BAD_INPUT, f"{name}: no such file (check the path)"
        if exc.errno == errno.EISDIR:
            return EXIT_BAD_INPUT, f"{name}: is a directory, not a GGUF file"
        return EXIT_BAD_INPUT, f"{name}: {reason}"
    if isinstance(exc, KeyError):
        return EXIT_BAD_INPUT, str(exc.args[0]) if exc.args else "unknown key"
    if isinstance(exc, (IndexError, NotImplementedError, ValueError)):
        return EXIT_BAD_INPUT, str(exc)
    if type(exc).__name__ in ("BackendUnavailable", "LibggmlUnavailable", "RuntimeUnavailable", "RknnError",
                              "LayoutMismatch"):
        return EXIT_UNAVAILABLE, str(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return EXIT_UNAVAILABLE, f"internal error: {type(exc).__name__}: {first} (rerun with --debug for a traceback)"
