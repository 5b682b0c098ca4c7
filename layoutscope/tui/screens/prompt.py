"""A one-line prompt with a default answer (export path, go to row/col)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from layoutscope.errors import printable
from layoutscope.tui.survival import Survives


class PromptScreen(Survives, ModalScreen[str]):
    """Ask one question; enter answers, esc cancels (the result is then None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, default: str = "", hint: str = "") -> None:
        super().__init__()
        self.question = question
        self.default = default
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(Text(printable(self.question)), id="prompt-question")
            yield Input(value=self.default, id="prompt-input")
            yield Static(Text(printable(self.hint or "enter to confirm · esc to cancel")), id="prompt-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)
