"""The Textual app: one main screen over one model file, the Scan and Offload screens, and the command palette."""

from __future__ import annotations

from textual.app import App, SystemCommand
from textual.binding import Binding

from layoutscope.tui.commands import TensorProvider
from layoutscope.tui.screens.main import MainScreen
from layoutscope.tui.survival import Survives, failure_line


class LayoutscopeApp(Survives, App):
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

    def get_system_commands(self, screen):
        """Textual's commands, plus opening the Scan and Offload screens and diagnosing the current tensor."""
        yield from super().get_system_commands(screen)
        main = self.main_screen
        yield SystemCommand("scan: every matmul weight, worst first (S)",
                            "NPU side vs CPU for each weight, with the current settings", main.action_scan)
        yield SystemCommand("offload: which layers go to the NPU, on which pipeline (O)",
                            "first-k and pipelines sweeps, per-layer sensitivity, a plan; measured in llama.cpp",
                            main.action_offload)
        yield SystemCommand("diagnose: which known bug explains an observed output (d)",
                            "rank the known layout bugs against a .npy your backend produced", main.action_diagnose)

    def report_failure(self, exc: BaseException, where: str) -> None:
        """Show an unexpected exception as one line (status bar and a notification); the app keeps running."""
        line = failure_line(exc, where)
        if self.main_screen.is_mounted:
            self.main_screen.set_status(line, error=True)
        self.notify(line, severity="error", timeout=10, markup=False)

    async def _dispatch_action(self, namespace, action_name: str, params) -> bool:
        # Every key binding's action runs through here: one that raises is shown, and the app stays up.
        try:
            return await super()._dispatch_action(namespace, action_name, params)
        except Exception as exc:  # noqa: BLE001 - see survival.py
            self.report_failure(exc, f"the {action_name} action")
            return True
