"""Text plots with axes for the Offload screen: log-scale bar charts, charts side by side, and the widget.

Everything is drawn with characters (bars of block elements, axis lines,
printed values), so a plot reads the same with NO_COLOR or on a monochrome
terminal; colour only repeats what the characters say. The column charts
against k come from :func:`layoutscope.report.chart.column_chart`, which the
CLI prints too.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

from rich.text import Text

from layoutscope.tui.widgets.text_view import TextView

#: Eighths of a cell, for bar ends finer than a whole character.
EIGHTHS = " ▏▎▍▌▋▊▉"
FULL = "█"
#: The smallest KL divergence a log axis shows; smaller (and 0) reads as no bar and the printed value.
LOG_FLOOR = 1e-6


def kld_text(value: float) -> str:
    """A KL divergence in 8 columns or fewer: ``0``, ``5.2e-02``, ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return "0" if value == 0 else f"{value:.1e}"


def log_range(values: Sequence[float], floor: float = LOG_FLOOR) -> tuple[float, float]:
    """Whole decades around the finite positive ``values`` (at least ``floor`` .. 10·floor)."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    top = max(positive, default=floor * 10)
    high = 10.0 ** math.ceil(math.log10(max(top, floor * 10)))
    return floor, high


def bar(value: float, low: float, high: float, width: int) -> str:
    """A left-aligned bar of ``width`` cells for ``value`` on a log axis from ``low`` to ``high``."""
    if value is None or not math.isfinite(value) or value <= low:
        return " " * width
    share = (math.log10(min(value, high)) - math.log10(low)) / (math.log10(high) - math.log10(low))
    eighths = max(1, round(share * width * 8))
    whole, part = divmod(eighths, 8)
    text = FULL * whole + (EIGHTHS[part] if part else "")
    return text[:width].ljust(width)


def marker_at(value: float, low: float, high: float, width: int) -> Optional[int]:
    """The cell of ``value`` on the log axis (None when off it)."""
    if value is None or not (low < value <= high):
        return None
    share = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
    return min(width - 1, max(0, round(share * width) - 1))


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, width: int = 16,
              low: Optional[float] = None, high: Optional[float] = None, budget: Optional[float] = None,
              value_text: Callable[[float], str] = kld_text) -> list[str]:
    """A horizontal bar chart on a log axis: one line per label, the value printed after its bar.

    The axis under the bars names its two ends; ``budget``, when given, is
    marked ``┴`` on it (and named in the title).
    """
    if low is None or high is None:
        low, high = log_range(values)
    pad = max((len(label) for label in labels), default=0)
    axis = ["─"] * width
    spot = marker_at(budget, low, high, width) if budget is not None else None
    if spot is not None:
        axis[spot] = "┴"
        title += f" (┴ {budget:g})"
    lines = [title]
    for label, value in zip(labels, values):
        lines.append(f"{label:<{pad}} │{bar(value, low, high, width)} {value_text(value)}")
    lines.append(" " * pad + " └" + "".join(axis))
    ends, far = _decade(low), _decade(high) + " log"
    lines.append(" " * pad + "  " + ends.ljust(max(len(ends) + 1, width - len(far))) + far)
    return lines


def _decade(value: float) -> str:
    """``1e-6``, ``1e-1``, ``1``: a decade as an axis end."""
    exponent = round(math.log10(value))
    return "1" if exponent == 0 else f"1e{exponent}"


def side_by_side(blocks: Sequence[Sequence[str]], room: int, gap: int = 3) -> list[str]:
    """``blocks`` of lines placed left to right while they fit in ``room`` columns, in rows of blocks."""
    lines: list[str] = []
    row: list = []
    used = 0
    for block in blocks:
        width = max((len(line) for line in block), default=0)
        if row and used + gap + width > room:
            lines += _join(row, gap) + [""]
            row, used = [], 0
        row.append((block, width))
        used += width + (gap if len(row) > 1 else 0)
    if row:
        lines += _join(row, gap)
    return lines


def _join(row: list, gap: int) -> list[str]:
    height = max(len(block) for block, _ in row)
    out = []
    for i in range(height):
        parts = [(block[i] if i < len(block) else "").ljust(width) for block, width in row]
        out.append((" " * gap).join(parts).rstrip())
    return out


class Plot(TextView):
    """A scrollable plot: lines of text whose characters carry the data; the first line is its title."""

    def show(self, lines: Sequence[str], note: str = "") -> None:
        """Show ``lines`` (the first in bold), and an optional dim ``note`` under them."""
        text = Text()
        for i, line in enumerate(lines):
            text.append(line + "\n", style="bold" if i == 0 else "")
        if note:
            text.append(note, style="dim")
        self.update(text)

    @property
    def plain(self) -> str:
        """What the plot shows, as plain text (tests read it)."""
        return self.content.plain if isinstance(self.content, Text) else str(self.content)
