"""TextView: a scrollable Rich renderable drawn with the Line API.

A Static inside a scroll container makes Textual measure and lay out the whole
content on every update; here the renderable is rendered once to strips at
the current width and each frame only copies the visible ones, so replacing
the content (a new tensor on ``]``) costs one render and no re-layout.
"""

from __future__ import annotations

from rich.console import RenderableType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from layoutscope.tui.survival import Survives


class TextView(Survives, ScrollView, can_focus=True):
    """Shows one Rich renderable; ``content`` is what was last given to :meth:`update`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.content: RenderableType = ""
        self._lines: list[Strip] = []
        self._width = 0
        self._pad = None

    def update(self, content: RenderableType) -> None:
        """Replace the content (the scroll position is kept where possible)."""
        self.content = content
        self._width = 0
        self._layout_lines()

    def _layout_lines(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._width:
            return
        options = self.app.console.options.update_width(width)
        # Every segment gets the widget's style: unstyled segments would lack its background (and
        # Textual's NO_COLOR filter expects a style on each).
        self._pad = self.rich_style
        lines = self.app.console.render_lines(self.content, options, pad=False)
        self._lines = [Strip(line).apply_style(self._pad) for line in lines]
        self._width = width
        self.virtual_size = Size(width, len(self._lines))
        self.refresh()

    def on_resize(self) -> None:
        self._layout_lines()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._width = 0  # re-render with the new styles

    def render_line(self, y: int) -> Strip:
        self._layout_lines()
        width = self.scrollable_content_region.width
        i = self.scroll_offset.y + y
        line = self._lines[i] if i < len(self._lines) else Strip.blank(width, self._pad)
        return line.crop_extend(0, width, self._pad)
