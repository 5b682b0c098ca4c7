"""The Textual app: one main screen over one model file, and the command palette."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from .commands import TensorProvider
from .screens.main import MainScreen


class LayoutscopeApp(App):
    """``layoutscope FILE``: step through layers, read layouts and values, run one matmul, export CSV."""

    CSS_PATH = "app.tcss"
    TITLE = "layoutscope"
    COMMANDS = App.COMMANDS | {TensorProvider}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, path: str, settings=None) -> None:
        super().__init__()
        self.path = str(path)
        self.main_screen = MainScreen(self.path, settings)

    def get_default_screen(self) -> MainScreen:
        return self.main_screen
