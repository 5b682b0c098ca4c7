"""Tensor-name filters (``--filter``, the TUI's ``/``): regular expressions with bounds.

A user's pattern is untrusted input: a 5,000-level nesting overflows the
compiler's recursion, and a catastrophic pattern such as ``(a|aa)+$`` can
backtrack for hours. Patterns are compiled with a nesting and length limit and
matched with a time limit, using the ``regex`` package (the standard ``re``
module has no timeout); every failure is a one-line :class:`UsageError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from layoutscope.errors import UsageError
from layoutscope.errors import quoted

#: Longest pattern accepted (tensor names are at most a few hundred characters).
MAX_PATTERN_LENGTH = 1000
#: Deepest group nesting accepted.
MAX_NESTING = 50
#: Seconds one name may take to match before the pattern is refused as catastrophic.
MATCH_SECONDS = 0.2


def _nesting(pattern: str) -> int:
    """Deepest ``(`` nesting, skipping escaped characters and character classes."""
    depth = deepest = 0
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth = max(0, depth - 1)
    return deepest


@dataclass(frozen=True)
class NameFilter:
    """A compiled, bounded name pattern; :meth:`matches` searches a name (``re.search`` semantics)."""

    pattern: str
    option: str
    _compiled: object

    def matches(self, name: str) -> bool:
        """True when the pattern occurs in ``name``; a match over :data:`MATCH_SECONDS` is a UsageError."""
        try:
            return self._compiled.search(name, timeout=MATCH_SECONDS) is not None
        except TimeoutError:
            raise UsageError(
                f"{self.option} {quoted(self.pattern)}: matching took over {MATCH_SECONDS:g} s on "
                f"{quoted(name, 40)} (catastrophic backtracking); simplify the pattern, e.g. avoid nested repeats "
                "like (a|aa)+") from None

    def select(self, names: Iterable[str]) -> list[str]:
        """The names that match, in order."""
        return [n for n in names if self.matches(n)]


def compile_filter(pattern: Optional[str], option: str = "--filter") -> Optional[NameFilter]:
    """The bounded filter for ``pattern`` (None for no pattern); a bad pattern is a one-line UsageError.

    ``option`` names where the pattern came from in messages (``--filter``, ``filter``).
    """
    if not pattern:
        return None
    import regex

    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UsageError(f"{option} {quoted(pattern)}: the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if _nesting(pattern) > MAX_NESTING:
        raise UsageError(f"{option} {quoted(pattern)}: groups are nested deeper than {MAX_NESTING} levels")
    try:
        compiled = regex.compile(pattern, regex.VERSION0)
    except regex.error as exc:
        raise UsageError(f"{option} {quoted(pattern)}: not a valid regular expression ({exc})") from None
    except (RecursionError, OverflowError, MemoryError):
        raise UsageError(f"{option} {quoted(pattern)}: the pattern is too complex to compile") from None
    return NameFilter(pattern, option, compiled)
