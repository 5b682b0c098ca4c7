"""The terminal UI (Textual): ``layoutscope FILE`` steps through a model's layers.

Textual is imported only under this package. :func:`run` starts the app; the
pure work it shows (layouts, side-by-side values, matmuls, exports) lives in
the core modules, so every screen can be tested and reused without a terminal.
"""

from __future__ import annotations

import gc


def run(path: str) -> int:
    """Run the TUI on ``path`` until the user quits; returns the exit code."""
    # The start (Textual, numpy, the file's header) allocates many objects and frees few: cyclic collections
    # there cost tens of milliseconds and find nothing. The main screen turns the collector back on once the
    # tree and the first panel are drawn (or the file failed to open).
    gc.disable()
    try:
        from layoutscope.tui.app import LayoutscopeApp
        from layoutscope.tui.start_marker import StartMarker

        app = LayoutscopeApp(path)
        marker = StartMarker.from_environment()  # armed only by benchmarks/tui.py
        if marker is not None:
            marker.attach(app)
            app.main_screen.start_marker = marker
        app.run()
    finally:
        gc.enable()
    return app.return_code or 0
