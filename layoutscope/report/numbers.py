"""Numbers as text: the one formatter the CLI and the TUI print numbers with.

* :func:`shortest_text` / :func:`shortest_texts`: a float32 in the fewest digits that read back
  as the same float32 (``0.1``, ``-0``, ``3e-07``); the formats' own anatomy uses the same
  function, from :mod:`layoutscope.formats.float_text`, so a value reads alike everywhere.
* :func:`float_text`: a value in a metadata preview or a worst-element table, as a Python float
  (``0.1``, ``3.0``); float32 values are not padded out to float64 digits.
* :func:`fixed_text`, :func:`nmse_text`: a measurement in a fixed format (``1.26e-03``),
  with nan and inf spelled out and None (not measured) left blank.
* :func:`cell_text`: a value in a grid cell of at most nine characters.
"""

from __future__ import annotations

import math
from typing import Optional

__all__ = ["cell_text", "fixed_text", "float_text", "nmse_text", "shortest_text", "shortest_texts"]

#: Above this magnitude a cell switches to exponent form to stay nine characters wide.
CELL_LIMIT = 1e9


def __getattr__(name: str):
    # The shortest-text pair needs numpy; loaded on first use, so a grid cell's text (the TUI's first
    # frame imports this module) does not pull numpy in.
    if name in ("shortest_text", "shortest_texts"):
        from layoutscope.formats import float_text as shortest

        return getattr(shortest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def float_text(x: float) -> str:
    """Shortest text of a float; float32 values print as float32 (``0.1``, not ``0.10000000149``)."""
    import numpy as np

    from layoutscope.formats.float_text import shortest_text

    if math.isfinite(x):
        with np.errstate(over="ignore"):  # beyond float32's range: not a float32 value
            is_float32 = float(np.float32(x)) == x
        if is_float32:
            return repr(float(shortest_text(x)))
    return repr(x)


def fixed_text(x: Optional[float], spec: str) -> str:
    """``x`` in the format ``spec`` (``".2e"``, ``".1f"``); ``nan``/``inf``/``-inf`` as words; None as ``""``."""
    if x is None:
        return ""
    return format(x, spec) if math.isfinite(x) else str(x)


def nmse_text(x: float) -> str:
    """An NMSE as ``1.26e-03`` (nan and inf spelled out)."""
    return fixed_text(x, ".2e")


def cell_text(value: float) -> str:
    """A value right-aligned in at most nine characters (``   0.1235``, `` 1.23e+10``)."""
    text = f"{value:.4g}" if abs(value) < CELL_LIMIT or value != value else f"{value:.2e}"
    if len(text) > 9:  # e.g. -1.234e-05: fewer digits, never a cut sign
        text = f"{value:.2e}"
    return f"{text:>9}"

