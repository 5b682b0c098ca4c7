"""The Values grid: a Line API ScrollView over the memory map, never a table of values.

Each row of W is a band of four lines: ggml's dequantized value, the NPU
code, the NPU value and |error|, one cell per column. Only the rows on screen
are decoded (``SideBySide`` windows, cached); ``render_line`` formats the
visible cells. The first line is a fixed header of column numbers, and the
gutter shows each row's NPU scale.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Optional

from rich.segment import Segment
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from layoutscope.errors import printable
from layoutscope.report.numbers import cell_text
from layoutscope.tui.survival import Survives

#: Lines per row of W: dequantized, NPU code, NPU value, |error|.
QUANTITIES = ("ggml", "code", "npu", "|err|")
LINES_PER_ROW = len(QUANTITIES)
#: Characters per cell: nine for the number and one for the mismatch marker.
CELL_W = 10
#: Gutter: row number or scale (11) and the quantity label (6).
GUTTER_W = 17


class ValuesGrid(Survives, ScrollView, can_focus=True):
    """Side-by-side values of one weight, with an element cursor."""

    COMPONENT_CLASSES = {
        "values-grid--header", "values-grid--gutter", "values-grid--cursor",
        "values-grid--mismatch", "values-grid--band", "values-grid--message",
    }
    BINDINGS = [
        Binding("up,k", "move(-1, 0)", "Up", show=False),
        Binding("down,j", "move(1, 0)", "Down", show=False),
        Binding("left,h", "move(0, -1)", "Left", show=False),
        Binding("right,l", "move(0, 1)", "Right", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("ctrl+left,shift+left", "page_cols(-1)", "Page left", show=False),
        Binding("ctrl+right,shift+right", "page_cols(1)", "Page right", show=False),
        Binding("home", "jump_col(0)", "First col", show=False),
        Binding("end", "jump_col(-1)", "Last col", show=False),
    ]

    @dataclass
    class CursorMoved(Message):
        """The element cursor moved to (row, col)."""

        row: int
        col: int

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sbs = None
        self.message_text: Optional[str] = "no tensor selected"
        self.row = 0
        self.col = 0
        self.threshold = 5e-4
        self._version = 0
        self._strips: LRUCache = LRUCache(1024)

    # -- data in --------------------------------------------------------------
    def show(self, sbs, row: int, col: int, threshold: float, message: Optional[str] = None) -> None:
        """Show ``sbs`` (a SideBySide) with the cursor at (row, col), or ``message`` instead."""
        self.sbs = sbs
        self.threshold = threshold
        self.message_text = None if message is None else printable(message)
        self._version += 1
        self._strips.clear()
        if message is None and sbs is not None:
            self.virtual_size = Size(GUTTER_W + sbs.n_cols * CELL_W, 1 + sbs.n_rows * LINES_PER_ROW)
            self.set_cursor(row, col, post=False)
        else:
            self.virtual_size = Size(self.size.width, 1)
            self.scroll_to(0, 0, animate=False)
        self.refresh()

    def on_resize(self) -> None:
        # A grid shown in a tab that was hidden had no size when its cursor was set.
        if self._ready:
            self.set_cursor(self.row, self.col, post=False)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    # -- cursor ---------------------------------------------------------------
    @property
    def _ready(self) -> bool:
        return self.sbs is not None and self.message_text is None

    def _visible_cols(self) -> int:
        return max(1, (self.scrollable_content_region.width - GUTTER_W) // CELL_W)

    def _visible_rows(self) -> int:
        return max(1, (self.scrollable_content_region.height - 1) // LINES_PER_ROW)

    def set_cursor(self, row: int, col: int, post: bool = True) -> None:
        """Move the cursor (clamped) and scroll so that it is visible."""
        if not self._ready:
            return
        self.row = max(0, min(row, self.sbs.n_rows - 1))
        self.col = max(0, min(col, self.sbs.n_cols - 1))
        top = self.row * LINES_PER_ROW
        height = self._visible_rows() * LINES_PER_ROW
        y = self.scroll_offset.y
        if top < y:
            y = top
        elif top + LINES_PER_ROW > y + height:
            y = top + LINES_PER_ROW - height
        first = self.scroll_offset.x // CELL_W
        if self.col < first:
            first = self.col
        elif self.col >= first + self._visible_cols():
            first = self.col - self._visible_cols() + 1
        self.scroll_to(first * CELL_W, y, animate=False, immediate=True, force=True)
        self._strips.clear()
        self.refresh()
        if post:
            self.post_message(self.CursorMoved(self.row, self.col))

    def action_move(self, d_row: int, d_col: int) -> None:
        """Move the cursor by one element."""
        self.set_cursor(self.row + d_row, self.col + d_col)

    def action_page(self, direction: int) -> None:
        """Move the cursor by a screenful of rows."""
        self.set_cursor(self.row + direction * self._visible_rows(), self.col)

    def action_page_cols(self, direction: int) -> None:
        """Move the cursor by a screenful of columns."""
        self.set_cursor(self.row, self.col + direction * self._visible_cols())

    def action_jump_col(self, col: int) -> None:
        """Jump to the first (0) or last (-1) column."""
        if self._ready:
            self.set_cursor(self.row, col if col >= 0 else self.sbs.n_cols - 1)

    # -- rendering ------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if not self._ready:
            # The message wraps: at 80 columns the grid is 48 wide, and the reason is the point of it.
            style = self.get_component_rich_style("values-grid--message")
            lines = textwrap.wrap(self.message_text or "", max(10, width)) or [""]
            return Strip([Segment(lines[y] if y < len(lines) else "", style)]).extend_cell_length(width, style)
        first = self.scroll_offset.x // CELL_W
        ncols = min(self._visible_cols(), self.sbs.n_cols - first)
        if y == 0:
            return self._header(first, ncols, width)
        vy = self.scroll_offset.y + y - 1
        row, q = divmod(vy, LINES_PER_ROW)
        if row >= self.sbs.n_rows:
            return Strip.blank(width, self.get_component_rich_style("values-grid--gutter"))
        key = (vy, first, ncols, width, self.col if row == self.row else -1, self._version)
        strip = self._strips.get(key)
        if strip is None:
            try:
                strip = self._band_line(row, q, first, ncols, width)
            except Exception as exc:  # noqa: BLE001 - a row that cannot be decoded is said, not fatal to the frame
                style = self.get_component_rich_style("values-grid--message")
                text = printable(f"row {row}: cannot show values: {type(exc).__name__}: {exc}") if q == 0 else ""
                strip = Strip([Segment(text, style)]).crop_extend(0, width, style)
            self._strips[key] = strip
        return strip

    def _header(self, first: int, ncols: int, width: int) -> Strip:
        style = self.get_component_rich_style("values-grid--header")
        text = f"{'col':>{GUTTER_W - 1}} " + "".join(f"{c:>9} " for c in range(first, first + ncols))
        return Strip([Segment(text, style)]).extend_cell_length(width, style)

    def _band_line(self, row: int, q: int, first: int, ncols: int, width: int) -> Strip:
        gutter = self.get_component_rich_style("values-grid--gutter")
        band = self.get_component_rich_style("values-grid--band") if row % 2 else self.rich_style
        cursor = self.get_component_rich_style("values-grid--cursor")
        bad = self.get_component_rich_style("values-grid--mismatch")
        win = self.sbs.window(row)
        i = row - win.start
        cols = slice(first, first + ncols)
        if q == 0:
            left = f"row {row}"
        elif q == 1:
            left = f"s {win.row_scale(row, first):.2e}"
        else:
            left = ""
        segments = [Segment(f"{left:<11}{QUANTITIES[q]:<6}"[:GUTTER_W], gutter)]
        values = (win.dequantized, win.codes, win.npu, win.abs_err)[q][i, cols]
        flags = win.mismatch(self.threshold)[i, cols]
        integer_codes = q == 1 and values.dtype.kind == "i"
        for j, (v, flag) in enumerate(zip(values.tolist(), flags.tolist())):
            text = f"{v:>9d}" if integer_codes else cell_text(v)
            style = band
            if flag:
                style = band + bad
            if row == self.row and first + j == self.col:
                style = style + cursor
            segments.append(Segment(text + ("!" if flag else " "), style))
        return Strip(segments).extend_cell_length(width, band)
