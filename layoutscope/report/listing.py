"""Long lists of names in text reports: wrapped to a readable width and cut at ``--top`` with a count.

Scan's skipped tensors and diff's only-in lists can run to hundreds of names;
one 5,000-character line helps nobody.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

from layoutscope.errors import printable

#: Characters per wrapped line (the report's two-space indent included by the caller).
WIDTH = 100


def name_list(title: str, names: Sequence[str], top: int, hint: str = "--top N, or --json for all",
              indent: str = "    ") -> list[str]:
    """``title (count):`` then the first ``top`` names wrapped under it, then ``… and K more (hint)``."""
    shown = [printable(n) for n in names[:max(0, top)]]
    lines = [f"{title} ({len(names)}):"]
    if shown:
        lines += textwrap.wrap(", ".join(shown), width=WIDTH, initial_indent=indent, subsequent_indent=indent,
                               break_long_words=False, break_on_hyphens=False)
    if len(names) > len(shown):
        lines.append(f"{indent}… and {len(names) - len(shown)} more ({hint})")
    return lines
