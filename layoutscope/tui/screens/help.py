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
    ("O", "the Offload screen: sweeps, sensitivity, a plan"),
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


#: The Offload screen's keys, shown first in its help.
OFFLOAD_KEYS = (
    ("f", "Offload: the first-k sweep (k leading layers on the NPU)"),
    ("p / l", "Offload: the pipelines sweep / each layer's sensitivity"),
    ("a / b", "Offload: plan within the KLD budget, verified / set the budget (0.01)"),
    ("t / T", "Offload: the layer / the weight to the next pipeline"),
    ("r", "Offload: measure the assignment (KLD, p99, top-1, ΔPPL)"),
    ("w / v", "Offload: show each layer's weights / the next plot"),
    ("x", "Offload: export plan.json and the sweeps (JSON, CSV)"),
    ("enter / esc", "Offload: go to the tensor / cancel the job, back"),
)


def key_table(keys=KEYS) -> Table:
    """The keys as a two-column table."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for keys, what in keys:
        table.add_row(keys, what)
    return table


class HelpScreen(Survives, ModalScreen):
    """The key table; any of esc, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, first: tuple = ()) -> None:
        super().__init__()
        #: A screen's own keys, listed before the app's.
        self.first = first

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("layoutscope keys", id="help-title")
            yield Static(key_table(tuple(self.first) + KEYS))
