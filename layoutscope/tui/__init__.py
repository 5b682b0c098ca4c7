"""The terminal UI (Textual): ``layoutscope FILE`` steps through a model's layers.

Textual is imported only under this package. :func:`run` starts the app; the
pure work it shows (layouts, side-by-side values, matmuls, exports) lives in
the core modules, so every screen can be tested and reused without a terminal.
"""

from __future__ import annotations


def run(path: str) -> int:
    """Run the TUI on ``path`` until the user quits; returns the exit code."""
    from layoutscope.tui.app import LayoutscopeApp
    from layoutscope.tui.start_marker import marker_from_environment

    app = LayoutscopeApp(path)
    app.main_screen.start_marker = marker_from_environment()
    app.run()
    return app.return_code or 0
