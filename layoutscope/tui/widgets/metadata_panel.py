"""The Metadata panel: every key, and a lazy, searchable view of the selected value.

Big arrays (a 262,144-token vocabulary) are never turned into Python lists:
:class:`ArrayView` renders only the visible elements of the ``MetadataArray``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable, Input, Static

from layoutscope.gguf import MetadataArray
from layoutscope.errors import printable
from layoutscope.tui.survival import Survives

#: Elements of a string array readable before its offsets are indexed (the reader walks that far).
WALKABLE = 256


class ArrayView(Survives, ScrollView, can_focus=True):
    """One metadata value: a scalar's text, or an array's elements one per line."""

    COMPONENT_CLASSES = {"array-view--index", "array-view--hit"}
    BINDINGS = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.value = None
        self.indexed = True
        self.hit: Optional[int] = None

    def show(self, value, indexed: bool = True) -> None:
        """Show ``value``; ``indexed`` is False while a big string array is still being indexed."""
        self.value = value
        self.indexed = indexed
        self.hit = None
        count = len(value) if isinstance(value, MetadataArray) else len(self._scalar_lines())
        self.virtual_size = Size(self.size.width, count)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def mark_indexed(self) -> None:
        """The array's offsets are ready: every element can be shown."""
        self.indexed = True
        self.refresh()

    def jump(self, index: int) -> None:
        """Scroll element ``index`` into view and mark it."""
        self.hit = index
        self.scroll_to(0, max(0, index - 2), animate=False, immediate=True)
        self.refresh()

    def _scalar_lines(self) -> list[str]:
        # A string's own lines (a chat template's) stay lines; every other control character is shown
        # escaped, never sent to the terminal.
        text = self.value if isinstance(self.value, str) else repr(self.value)
        width = max(20, self.scrollable_content_region.width or 60)
        lines = [printable(line) for line in text.split("\n")]
        return [line[i : i + width] for line in lines for i in range(0, max(1, len(line)), width)] or [""]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        i = self.scroll_offset.y + y
        value = self.value
        base = self.rich_style
        if not isinstance(value, MetadataArray):
            lines = self._scalar_lines() if value is not None else []
            return Strip([Segment(lines[i] if i < len(lines) else "", base)]).extend_cell_length(width, base)
        if i >= len(value):
            return Strip.blank(width, base)
        if not self.indexed and i >= WALKABLE:
            text = "… indexing the array"
        else:
            text = printable(repr(value[i]) if isinstance(value[i], str) else str(value[i]))
        index_style = self.get_component_rich_style("array-view--index")
        segments = [Segment(f"{i:>8}  ", base + index_style), Segment(text, base)]
        strip = Strip(segments)
        if i == self.hit:
            strip = strip.apply_style(self.get_component_rich_style("array-view--hit"))
        return strip.crop_extend(0, width, base)


class MetadataPanel(Survives, Vertical):
    """A table of keys, and below it the selected value with a search box for arrays."""

    @dataclass
    class KeyChosen(Message):
        """The user highlighted metadata key ``key``."""

        key: str

    @dataclass
    class SearchSubmitted(Message):
        """The user asked to find ``query`` in the array of ``key``."""

        key: str
        query: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: dict = {}
        self.key: Optional[str] = None
        self.hits: list[int] = []
        self.hit_pos = -1
        self.last_query = ""

    def compose(self):
        yield DataTable(id="metadata-keys", cursor_type="row")
        yield Static("", id="metadata-title")
        yield Input(placeholder="find in this array (enter: next match)", id="metadata-search", compact=True)
        yield ArrayView(id="metadata-value")

    def on_mount(self) -> None:
        self.query_one("#metadata-keys", DataTable).add_columns("key", "type", "value")

    def populate(self, entries) -> None:
        """Fill the key table from ``Model.entries`` (previews only: arrays stay lazy)."""
        from layoutscope.report.summary import preview

        self.entries = dict(entries)
        table = self.query_one("#metadata-keys", DataTable)
        table.clear()
        for key, e in self.entries.items():
            table.add_row(Text(printable(key)), Text(e.type_name), Text(printable(preview(e.value, items=3, width=40))),
                          key=key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value in self.entries:
            self.post_message(self.KeyChosen(event.row_key.value))

    def show_key(self, key: str, indexed: bool) -> None:
        """Show the value of ``key`` below the table."""
        self.key = key
        self.hits, self.hit_pos, self.last_query = [], -1, ""
        value = self.entries[key].value
        is_array = isinstance(value, MetadataArray)
        self.query_one("#metadata-title", Static).update(Text(self._title()))
        self.query_one("#metadata-search", Input).display = is_array
        self.query_one(ArrayView).show(value, indexed)

    def _title(self) -> str:
        e, key = self.entries[self.key], printable(self.key)
        if isinstance(e.value, MetadataArray):
            return f"{key}: {len(e.value)} × {e.value.element_type.name}"
        return f"{key}: {e.type_name}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        if not query or self.key is None:
            return
        if query == self.last_query and self.hits:
            self.hit_pos = (self.hit_pos + 1) % len(self.hits)
            self._show_hit()
            return
        self.post_message(self.SearchSubmitted(self.key, query))

    def found(self, key: str, query: str, hits: list[int]) -> None:
        """Search results arrived: jump to the first match."""
        if key != self.key:
            return
        self.hits, self.hit_pos, self.last_query = hits, 0, query
        self._show_hit()

    def _show_hit(self) -> None:
        title = self.query_one("#metadata-title", Static)
        if not self.hits:
            title.update(Text(f"{self._title()} · no element contains {printable(repr(self.last_query))}"))
            return
        index = self.hits[self.hit_pos]
        more = "+" if len(self.hits) >= SEARCH_LIMIT else ""
        title.update(Text(f"{self._title()} · match {self.hit_pos + 1} of {len(self.hits)}{more}: #{index}"))
        self.query_one(ArrayView).jump(index)


#: Matches kept per search.
SEARCH_LIMIT = 1000


def search_array(array, query: str, cancelled=lambda: False, limit: int = SEARCH_LIMIT) -> list[int]:
    """Indices of elements whose text contains ``query`` (case-insensitive), up to ``limit``."""
    needle = query.lower()
    hits = []
    for i, value in enumerate(array):
        if i % 4096 == 0 and cancelled():
            break
        if needle in str(value).lower():
            hits.append(i)
            if len(hits) >= limit:
                break
    return hits
