"""Turn exceptions into the one-line messages and exit codes of the error policy.

Bad input (a file that is missing, not GGUF or corrupt; an unknown tensor; a
bad option value, an output path that cannot be used) is exit 2. A resource
that is unavailable (libggml, the NPU runtime, memory for a request), an NPU
call that fails, or an output that cannot be written (a full disk, a closed
stdout) is exit 1. Anything else is a bug: exit 1 with a pointer to
``--debug``. Every message is escaped and bounded to one line, whatever the
exception put in it.

Text from files and users is shown through :func:`printable` (and echoed in
messages through :func:`clipped` / :func:`quoted`): tensor names, metadata
keys and option values come from files and command lines anyone can write, and
a raw ESC sequence would recolour the terminal, a newline split a table row or
an error line, and a 100,000-character name make a 100 KB error line.
"""

from __future__ import annotations

import errno
import re

EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_BAD_INPUT = 2
EXIT_VERDICT = 3


# -- text from files and users, made safe for one terminal line ----------------------------

#: C0 controls, DEL, C1 controls, and the Unicode format characters that reorder
#: or hide text (bidi overrides and isolates, zero-width joiners, BOM).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}

#: How many characters of a user's value an error line echoes.
ECHO_LIMIT = 80


def _escape(match: "re.Match[str]") -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` with every control and invisible formatting character escaped (``\\e``, ``\\n``, ``\\x07``)."""
    text = str(text)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def printable_lines(lines) -> str:
    """Report lines joined into text, each escaped: a newline inside one (a name's) cannot split it."""
    return "".join(printable(line) + "\n" for line in lines)


def clipped(text: object, limit: int = ECHO_LIMIT) -> str:
    """:func:`printable` text cut to ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) > limit:
        head = printable(text[:limit])
        return f"{head}… ({len(text)} characters)"
    return printable(text)


def quoted(text: object, limit: int = ECHO_LIMIT) -> str:
    """A user's value as it is echoed in a message: ``'value'``, escaped and clipped."""
    return f"'{clipped(text, limit)}'"


def clipped_path(path: object, limit: int = 2 * ECHO_LIMIT) -> str:
    """:func:`printable` path cut to its last ``limit`` characters: the file name is the informative end."""
    text = str(path)
    if len(text) > limit:
        return f"…{printable(text[-limit:])}"
    return printable(text)


def quoted_path(path: object, limit: int = ECHO_LIMIT) -> str:
    """A path as it is echoed in a message: ``'…/dir/x.npy'``, escaped, clipped from the front."""
    return f"'{clipped_path(path, limit)}'"


# -- errors ----------------------------------------------------------------------------------

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
    # A GGUFError is a ValueError whose text is its one line (where, what, what to do), so it
    # needs no case of its own here, and this floor module imports nothing from the layers above.
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
