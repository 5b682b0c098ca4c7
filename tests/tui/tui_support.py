"""Helpers for the TUI tests: run the app headless, read the screen as text, compare SVG snapshots.

``LAYOUTSCOPE_UPDATE_SNAPSHOTS=1 pytest tests/test_tui_snapshots.py`` rewrites
the SVGs in ``tests/tui/snapshots/``; look at them before committing.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

SNAPSHOTS = Path(__file__).parent / "snapshots"
CELL_WIDTH = 12.2
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                   r'clip-path="url\(#terminal(?:-\d+)?-line-(\d+)\)">([^<]*)</text>')


def screen_text(svg: str, width: int = 80, height: int = 24) -> list[str]:
    """The characters on screen, one string per terminal line, from an exported SVG."""
    grid = [[" "] * width for _ in range(height)]
    for x, line, text in _TEXT.findall(svg):
        col = round(float(x) / CELL_WIDTH)
        for i, ch in enumerate(html.unescape(text).replace("\xa0", " ")):
            if 0 <= int(line) < height and 0 <= col + i < width:
                grid[int(line)][col + i] = ch
    return ["".join(row).rstrip() for row in grid]


def normalise(svg: str) -> str:
    """An SVG without the random ``terminal-NNN`` ids, so identical screens compare equal."""
    return re.sub(r"terminal-\d+", "terminal", svg)


def check_snapshot(svg: str, name: str) -> None:
    """Compare ``svg`` with ``tests/tui/snapshots/NAME.svg`` (or write it when updating)."""
    path = SNAPSHOTS / f"{name}.svg"
    svg = normalise(svg)
    if os.environ.get("LAYOUTSCOPE_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("LAYOUTSCOPE_UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"no snapshot {path.name}; run with LAYOUTSCOPE_UPDATE_SNAPSHOTS=1 to create it")
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8", newline="\n")
        return
    expected = path.read_text(encoding="utf-8")
    if svg != expected:
        got = "\n".join(screen_text(svg))
        want = "\n".join(screen_text(expected))
        raise AssertionError(f"snapshot {path.name} differs (LAYOUTSCOPE_UPDATE_SNAPSHOTS=1 rewrites it)\n"
                             f"--- expected ---\n{want}\n--- got ---\n{got}")


def plain(static, width: int = 200) -> str:
    """The text a Static holds (a string, Text or Group), without styles."""
    import io

    from rich.console import Console

    console = Console(width=width, color_system=None, file=io.StringIO())
    with console.capture() as captured:
        console.print(static.content)
    return captured.get()


def run(coro):
    """Run one async test body (pytest-asyncio is not a dependency)."""
    return asyncio.run(coro)


async def settle(app, pilot) -> None:
    """Wait until every worker is done and the messages they posted are handled.

    Some work starts only after a repaint (the backends are probed once the
    opened model is on screen), so this waits until a pause starts nothing new.
    """
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()
    for _ in range(20):
        if not any(w.is_running for w in app.workers):
            return
        await app.workers.wait_for_complete()
        await pilot.pause()


def write_observed(model_path, directory, hypothesis: str, tensor: str = "blk.0.ffn_up.weight"):
    """``x.npy`` (4, K) and ``y.npy``: ``tensor``'s output with the bug ``hypothesis`` injected."""
    import numpy as np

    import layoutscope
    from layoutscope.analyses.diagnose import simulate

    with layoutscope.open(model_path) as model:
        w = model.tensor(tensor)
        x = np.random.default_rng(3).standard_normal((4, w.ne[0])).astype(np.float32)
        np.save(Path(directory) / "x.npy", x)
        np.save(Path(directory) / "y.npy", simulate(w, x, hypothesis))
