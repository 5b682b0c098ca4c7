"""A small plain-text chart with axes: one series of y against integer x, for terminals, logs and NO_COLOR.

``column_chart(xs, ys, ...)`` returns lines: a y axis with its top, middle
and bottom values, one column of ``mark`` per x (filled down to the axis so
the shape reads at a glance), and an x axis labelled with every x that fits.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence


def column_chart(xs: Sequence[int], ys: Sequence[float], title: str, height: int = 8,
                 y_text: Callable[[float], str] = lambda v: f"{v:.3g}", x_label: str = "k",
                 mark: str = "█", low: float | None = None, high: float | None = None) -> list[str]:
    """The chart's lines; NaN values leave their column empty. ``low``/``high`` fix the y range."""
    finite = [y for y in ys if math.isfinite(y)]
    bottom = low if low is not None else min(finite + [0.0])
    top = high if high is not None else max(finite + [bottom])
    if top <= bottom:
        top = bottom + (abs(bottom) or 1.0)
    labels = {height - 1: y_text(top), (height - 1) // 2: y_text((top + bottom) / 2), 0: y_text(bottom)}
    pad = max(len(t) for t in labels.values())
    width = 3
    filled = []
    for y in ys:  # one value per column
        if not math.isfinite(y):
            filled.append(-1)
            continue
        share = (min(max(y, bottom), top) - bottom) / (top - bottom)
        filled.append(round(share * (height - 1)))
    lines = [title]
    for row in range(height - 1, -1, -1):
        cells = "".join(_cell(f, row, mark) for f in filled)
        lines.append(f"{labels.get(row, ''):>{pad}} ┤{cells.rstrip()}")
    lines.append(" " * pad + " └" + "─" * (width * len(xs)))
    ticks = "".join(f"{x:<{width}}"[:width] for x in xs)
    lines.append(" " * pad + "  " + ticks.rstrip() + f"  {x_label}")
    return lines


def _cell(level: int, row: int, mark: str) -> str:
    """One column's cell on ``row``: filled up to ``level``; a value at the bottom shows as a floor line."""
    if level < 0:
        return "   "
    if level == 0:
        return "▁▁ " if row == 0 else "   "
    return mark * 2 + " " if row <= level else "   "
