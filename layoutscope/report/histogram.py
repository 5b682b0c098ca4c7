"""A text histogram of absolute errors, on a log scale: no plotting dependency.

Errors of a matmul span many decades (exact zeros, rounding noise, a broken
layout's huge values), so bins are equal steps of log10 |err| and exact zeros
get a line of their own.
"""

from __future__ import annotations

import math

import numpy as np

_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(count: int, peak: int, width: int) -> str:
    """A bar of ``count / peak`` of ``width`` cells, in eighths of a cell."""
    if peak <= 0 or count <= 0:
        return ""
    eighths = max(1, round(count / peak * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def error_histogram(errors, bins: int = 8, width: int = 24) -> list[str]:
    """Lines ``"  1.2e-05 .. 3.4e-05 │████▌        57"`` for |errors| (any shape).

    Non-finite errors are counted on a line of their own, as are exact zeros.
    """
    e = np.abs(np.asarray(errors, dtype=np.float64)).reshape(-1)
    if e.size == 0:
        return ["(no elements)"]
    finite = np.isfinite(e)
    nonfinite = int(e.size - np.count_nonzero(finite))
    e = e[finite]
    zeros = int(np.count_nonzero(e == 0))
    positive = e[e > 0]
    rows: list[tuple[str, int]] = []
    if zeros:
        rows.append(("exact (0)", zeros))
    if positive.size:
        lo, hi = math.log10(positive.min()), math.log10(positive.max())
        n = bins if hi > lo else 1
        edges = np.linspace(lo, hi, n + 1) if hi > lo else np.array([lo, hi])
        counts, _ = np.histogram(np.log10(positive), bins=edges)
        for i, c in enumerate(counts):
            rows.append((f"{10 ** edges[i]:.1e} .. {10 ** edges[i + 1]:.1e}", int(c)))
    if nonfinite:
        rows.append(("nan/inf", nonfinite))
    peak = max(c for _, c in rows)
    label_w = max(len(label) for label, _ in rows)
    count_w = len(str(peak))
    return [f"{label:>{label_w}} │{bar(c, peak, width):<{width}} {c:>{count_w}}" for label, c in rows]
