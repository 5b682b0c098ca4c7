"""The help dialog: every key, as the README's table lists them."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from layoutscope.tui.survival import Survives

#: (keys, what they do), in the order the README lists them.
KEYS = (
    ("arrows, j / k", "move (tree: tensors; Values: element by element)"),
    ("pageup / pagedown", "Values: a page of rows; shift+←/→ a page of columns"),
    ("] / [", "next / previous layer, keeping the tensor's role"),
    ("n / N", "next / previous tensor worse than the threshold"),
    ("m", "run the matmul for the current tensor (esc cancels)"),
    ("d", "diagnose which known bug explains an observed Y.npy"),
    ("S", "the Scan screen: every matmul weight, worst first"),
    ("x", "export CSV: the comparison (Values: side by side)"),
    ("s", "settings; results made with others turn stale (?)"),
    ("g", "go to (row, col)"),
    ("/", "filter the tree (regex), applied as you pause"),
    ("  enter / esc", "go to the first match / clear the filter"),
    ("1 2 3 4", "Layout, Values, Matmul, Metadata"),
    ("tab", "focus: tree → panel (arrows scroll it) → filter"),
    ("< / >", "the tree narrower / wider (kept for the session)"),
    ("ctrl+p", "command palette (tensor: blk.12.attn_q.weight)"),
    ("?", "this help"),
    ("q", "quit"),
)


def key_table() -> Table:
    """The keys as a two-column table."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for keys, what in KEYS:
        table.add_row(keys, what)
    return table


class HelpScreen(Survives, ModalScreen):
    """The key table; any of esc, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("layoutscope keys", id="help-title")
            yield Static(key_table())
