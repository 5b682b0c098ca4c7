"""The error screen: a file that cannot be opened, with the reader's one-line message."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from layoutscope.errors import printable
from layoutscope.tui.survival import Survives


class ErrorScreen(Survives, Screen):
    """Shows why a file could not be opened; q quits."""

    BINDINGS = [Binding("q,escape", "leave", "Quit")]

    def __init__(self, path: str, line: str) -> None:
        super().__init__()
        self.path = path
        self.line = line

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(Text("layoutscope cannot open this file", style="bold"), id="error-title")
            yield Static(Text(printable(self.line)), id="error-line")
            yield Static(Text("Nothing was written. Check the file (is it complete? is it GGUF?) and open it again; "
                              "`layoutscope info FILE` prints the same message.", style="dim"), id="error-hint")
        yield Footer()

    def action_leave(self) -> None:
        """Quit with exit code 2 (bad input), repeating the message on the terminal."""
        self.app.exit(return_code=2, message=f"layoutscope: error: {printable(self.line)}")
