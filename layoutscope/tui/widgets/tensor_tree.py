"""The tensor tree: tensors grouped by layer, each with a type badge, shape and last verdict; and its filter box.

Once the Offload screen has an assignment, each matmul weight also shows
where it runs: a short pipeline tag (``W8S`` = W8A8_STANDARD, ``W4H`` =
W4A4_HADAMARD, ``CPU``), readable without colour.

The sidebar holding them is as wide as the widest label needs, within a share
of the screen (:func:`sidebar_width`); ``<`` / ``>`` move it by a few columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Input, Tree
from textual.widgets.tree import TreeNode

from layoutscope.errors import printable
from layoutscope.tui.survival import Survives

#: Marker and style of each verdict; the marker keeps verdicts readable without colour.
VERDICT_LOOK = {
    None: ("·", "dim"),
    "ok": ("✓", "green"),
    "degraded": ("~", "yellow"),
    "broken": ("✗", "bold red"),
    # A verdict made under other settings (another mm, scheme, input, threshold...): shown, never trusted.
    "stale": ("?", "dim"),
}


#: Colour of each pipeline tag's family (the tag's letters carry the pipeline; colour only repeats them).
TAG_STYLE = {"W4": "magenta", "W8": "cyan", "W16": "blue", "CPU": "dim"}
#: Columns a pipeline tag takes (``W16H``).
TAG_WIDTH = 4


def pipeline_tag(pipeline: Optional[str]) -> str:
    """``W8A8_STANDARD`` → ``W8S``, ``W16A16_HADAMARD`` → ``W16H``; no pipeline (None, "", "CPU") → ``CPU``."""
    if not pipeline or pipeline == "CPU":
        return "CPU"
    bits, _, kind = pipeline.partition("_")
    return bits.split("A")[0] + (kind[:1] or "?")


def tag_style(tag: str) -> str:
    """The colour of a pipeline tag's family."""
    return TAG_STYLE.get(tag if tag == "CPU" else tag[:-1], "")


#: The sidebar's width before the file is open, and the least it gets from its content: what it has at
#: 80 columns, where the panel on the right keeps PANEL_ROOM columns.
SIDEBAR_FLOOR = 30
PANEL_ROOM = 50
#: The largest share of the screen the sidebar takes to fit its content (the panel keeps the rest).
SIDEBAR_SHARE = 0.45
#: Columns one ``<`` / ``>`` moves the sidebar by, and the least the sidebar and the panel keep then.
RESIZE_STEP = 4
SIDEBAR_LEAST = 16
PANEL_LEAST = 24


def shape_text(ne) -> str:
    """``[704, 256]`` as ``704×256`` (ggml order)."""
    return "×".join(str(n) for n in ne)


def fitted_width(content: int, screen: int) -> int:
    """The sidebar's columns for a widest line of ``content`` columns (sidebar chrome included).

    At least SIDEBAR_FLOOR; wider only as far as SIDEBAR_SHARE of the screen
    allows while the panel keeps PANEL_ROOM columns, so at 80 columns it stays
    at the floor and at 160 it fits the names and shapes of real models.
    """
    cap = max(SIDEBAR_FLOOR, min(int(screen * SIDEBAR_SHARE), screen - PANEL_ROOM))
    return min(max(content, SIDEBAR_FLOOR), cap)


def sidebar_width(content: int, screen: int, adjust: int = 0) -> int:
    """:func:`fitted_width` moved by ``adjust`` columns (the user's ``<`` / ``>``).

    A move stops at SIDEBAR_LEAST columns for the sidebar and PANEL_LEAST for
    the panel, but never pulls the fitted width itself back.
    """
    fitted = fitted_width(content, screen)
    least, most = min(SIDEBAR_LEAST, fitted), max(fitted, screen - PANEL_LEAST)
    return max(least, min(fitted + adjust, most))


class FilterInput(Input):
    """The tree's filter box; esc clears the filter and leaves the box (it posts :class:`Cleared`)."""

    BINDINGS = [Binding("escape", "clear", "clear the filter", show=False)]

    class Cleared(Message):
        """The user cleared the filter with esc."""

    def action_clear(self) -> None:
        """Empty the box and say so; the screen shows every tensor again and moves the focus to the tree."""
        self.value = ""
        self.post_message(self.Cleared())


class TensorTree(Survives, Tree):
    """Layers as branches and tensors as leaves whose ``data`` is the tensor name."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    @dataclass
    class Drawn(Message):
        """The tree was rendered for a frame with the tensors of :meth:`populate`; posted once per populate.

        Rendering and writing a frame happen in one go, so when this is handled
        the frame is on its way to the terminal: work that should come after
        the tree is on screen can start.
        """

    def __init__(self, **kwargs) -> None:
        super().__init__("tensors", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._leaves: dict[str, TreeNode] = {}
        self._tensors: dict = {}
        self._groups: list = []
        self._verdicts = None
        self._filter = None
        self._fingerprint: Optional[tuple] = None
        self._content_width = 0
        self._announce_drawn = False
        #: Weight name → pipeline tag, once the Offload screen has an assignment (None before).
        self._tags: Optional[dict] = None

    def populate(self, groups: list, verdicts, fingerprint: Optional[tuple] = None) -> None:
        """Show ``groups`` (``[(label, [Tensor])]``) with verdicts from a VerdictStore, judged against ``fingerprint``."""
        self._groups = groups
        self._tensors = {t.name: t for _, tensors in groups for t in tensors}
        self._verdicts = verdicts
        self._fingerprint = fingerprint
        self._content_width = max((self._line_width(label, tensors) for label, tensors in groups), default=0)
        self._rebuild(self._shown(self._filter), keep=None)
        self._announce_drawn = True

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        if self._announce_drawn:
            self._announce_drawn = False
            self.post_message(self.Drawn())
        return lines

    @property
    def content_width(self) -> int:
        """Columns the widest line takes (guides, mark, type, name, shape), over every tensor, filtered or not."""
        return self._content_width

    def _line_width(self, label: str, tensors: list) -> int:
        # As Tree lays lines out: a branch is its expand icon and label; a leaf is indented by the guides.
        branch = Text(self.ICON_NODE_EXPANDED).cell_len + self._branch_label(label, len(tensors)).cell_len
        return max([branch, *(self.guide_depth + self._label(t).cell_len for t in tensors)])

    @staticmethod
    def _branch_label(label: str, count: int) -> Text:
        return Text(f"{printable(label)} ({count})")

    def set_filter(self, name_filter, keep: Optional[str] = None) -> list[str]:
        """Show only tensors that ``name_filter`` (a :class:`~layoutscope.gguf.name_filter.NameFilter`, or None) matches.

        Returns the names shown. The cursor stays on ``keep`` when it is shown
        and is hidden otherwise: filtering never selects another tensor by
        itself. A pattern whose matching times out raises its UsageError and
        leaves the tree as it was.
        """
        shown = self._shown(name_filter)  # may raise: nothing is changed before it returns
        self._filter = name_filter
        self._rebuild(shown, keep)
        return self.visible_names()

    def _shown(self, name_filter) -> list:
        return [(label, [t for t in tensors if name_filter is None or name_filter.matches(t.name)])
                for label, tensors in self._groups]

    def _rebuild(self, shown: list, keep: Optional[str]) -> None:
        # No cursor while the nodes are replaced: a cursor line left over from the old tree would
        # highlight (and so select) whichever tensor lands on that line.
        self.unselect()
        self.clear()
        self._leaves = {}
        for label, tensors in shown:
            if not tensors:
                continue
            branch = self.root.add(self._branch_label(label, len(tensors)), expand=True)
            for t in tensors:
                self._leaves[t.name] = branch.add_leaf(self._label(t), data=t.name)
        if keep is not None:
            self.show(keep)

    def set_plan(self, tags: Optional[dict]) -> None:
        """Show each weight's pipeline tag (``{name: "W8S"}``; None hides the tags) and relabel every leaf."""
        self._tags = dict(tags) if tags is not None else None
        self._content_width = max((self._line_width(label, tensors) for label, tensors in self._groups), default=0)
        for name, node in self._leaves.items():
            node.set_label(self._label(self._tensors[name]))

    def tag_of(self, name: str) -> Optional[str]:
        """The pipeline tag shown for ``name`` (None when no assignment is shown or it is not a matmul weight)."""
        return None if self._tags is None else self._tags.get(name)

    def set_fingerprint(self, fingerprint: Optional[tuple]) -> None:
        """Judge verdicts against new settings: marks made under other settings turn stale (``?``)."""
        self._fingerprint = fingerprint
        for name, node in self._leaves.items():
            node.set_label(self._label(self._tensors[name]))

    def _label(self, t) -> Text:
        entry = self._verdicts.get(t.name) if self._verdicts is not None else None
        key = None if entry is None else (entry.verdict if entry.is_current(self._fingerprint) else "stale")
        marker, style = VERDICT_LOOK[key]
        # ".weight" is on nearly every name; dropping it leaves room for the shape.
        name = printable((t.role if t.layer is not None else t.name).removesuffix(".weight"))
        current = key not in (None, "stale")
        text = Text.assemble((marker + " ", style), (f"{t.type_name:<5}", "bold"), " ")
        if self._tags is not None:
            # Before the name, so the narrow sidebar at 80 columns clips the shape, never the tag.
            tag = self._tags.get(t.name, "")
            text.append(f"{tag:<{TAG_WIDTH}} ", style=tag_style(tag) if tag else "")
        text.append(name, style=style if current else "")
        text.append(f" {shape_text(t.ne)}", style="dim")
        return text

    def refresh_verdict(self, tensor) -> None:
        """Redraw one tensor's label after its verdict changed."""
        node = self._leaves.get(tensor.name)
        if node is not None:
            node.set_label(self._label(tensor))

    def visible_names(self) -> list[str]:
        """Tensor names in display order (after the filter)."""
        return list(self._leaves)

    def current(self) -> Optional[str]:
        """The tensor under the cursor, if the cursor is on a tensor."""
        node = self.cursor_node
        if self.cursor_line < 0 or node is None or self._leaves.get(node.data) is not node:
            return None
        return node.data

    def owns_cursor(self, node: TreeNode) -> bool:
        """True when ``node`` is the one the cursor is on now (a highlight event may be left from a rebuild)."""
        return self.cursor_line >= 0 and node is self.cursor_node and self._leaves.get(node.data) is node

    def show(self, name: str) -> bool:
        """Move the cursor to ``name``, scrolling only if it is out of view; False when the filter hides it."""
        node = self._leaves.get(name)
        if node is None:
            return False
        self.get_node_at_line(0)  # lays out the lines, so the node knows where it is
        self.cursor_line = node.line
        self.call_after_refresh(self._reveal, node)
        return True

    def _reveal(self, node: TreeNode, tries: int = 3) -> None:
        """Scroll ``node`` into view with its layer's header above it when both fit."""
        if self._leaves.get(node.data) is not node or node.line < 0:
            return  # the tree was rebuilt meanwhile
        height = self.scrollable_content_region.height
        if height <= 0:
            if tries:  # not laid out yet (the tree was loading): try again after the next frame
                self.call_after_refresh(self._reveal, node, tries - 1)
            return
        top, line = self.scroll_offset.y, node.line
        if top <= line < top + height:
            return  # already in view: leave the scroll where the user put it
        header = node.parent.line if node.parent is not None and node.parent.line >= 0 else line
        self.scroll_to(y=header if line - header < height else line, animate=False)
