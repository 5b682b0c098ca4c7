"""Text from files and users made safe for one terminal line.

Tensor names, metadata keys and option values come from files and command
lines that anyone can write. A raw ESC sequence would recolour the terminal,
and a newline would split a table row or an error line, so every such text
goes through :func:`printable` before it is shown, and through :func:`clipped`
when it is echoed back in a message (a 100,000-character name must not make a
100 KB error line).
"""

from __future__ import annotations

import re

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
