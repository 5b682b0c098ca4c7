"""The tensor tree: tensors grouped by layer, each with a type badge, shape and last verdict."""

from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

#: Marker and style of each verdict; the marker keeps verdicts readable without colour.
VERDICT_LOOK = {
    None: ("·", "dim"),
    "ok": ("✓", "green"),
    "degraded": ("~", "yellow"),
    "broken": ("✗", "bold red"),
}


def shape_text(ne) -> str:
    """``[704, 256]`` as ``704×256`` (ggml order)."""
    return "×".join(str(n) for n in ne)


class TensorTree(Tree):
    """Layers as branches and tensors as leaves whose ``data`` is the tensor name."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__("tensors", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._leaves: dict[str, TreeNode] = {}
        self._groups: list = []
        self._verdicts = None
        self._filter = ""

    def populate(self, groups: list, verdicts) -> None:
        """Show ``groups`` (``[(label, [Tensor])]``) with verdicts from a VerdictStore."""
        self._groups = groups
        self._verdicts = verdicts
        self._rebuild()

    def set_filter(self, text: str) -> None:
        """Show only tensors whose name contains ``text`` (case-insensitive)."""
        self._filter = text.strip().lower()
        self._rebuild()

    def _rebuild(self) -> None:
        self.clear()
        self._leaves = {}
        for label, tensors in self._groups:
            shown = [t for t in tensors if self._filter in t.name.lower()]
            if not shown:
                continue
            branch = self.root.add(f"{label} ({len(shown)})", expand=True)
            for t in shown:
                self._leaves[t.name] = branch.add_leaf(self._label(t), data=t.name)

    def _label(self, t) -> Text:
        entry = self._verdicts.get(t.name) if self._verdicts is not None else None
        marker, style = VERDICT_LOOK[entry.verdict if entry else None]
        # ".weight" is on nearly every name; dropping it leaves room for the shape.
        name = (t.role if t.layer is not None else t.name).removesuffix(".weight")
        text = Text.assemble((marker + " ", style), (f"{t.type.name:<5}", "bold"), " ", (name, style if entry else ""))
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
        return node.data if node is not None else None

    def show(self, name: str) -> bool:
        """Move the cursor to ``name``; False when the filter hides it."""
        node = self._leaves.get(name)
        if node is None:
            return False
        self.get_node_at_line(0)  # lays out the lines, so the node knows where it is
        self.move_cursor(node)
        return True
