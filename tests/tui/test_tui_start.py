"""The TUI's start: what the first frame and the drawn tree import, and the markers the start benchmark reads.

Each import check runs in a fresh interpreter (harlequin's test_import_hygiene is the model) and
reports ``sys.modules`` at the moment in question.
"""

from __future__ import annotations

import ast
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from tui_support import plain, run, settle

from layoutscope.tui.app import LayoutscopeApp
from layoutscope.tui.start_marker import ENV, StartMarker
from layoutscope.tui.widgets.layout_panel import LayoutPanel
from layoutscope.tui.widgets.tensor_tree import TensorTree

#: The settings record's module. It needs the NPU platform table, whose package (``backend.rknpu2``)
#: imports numpy with ``requantize``: what that module imports is allowed in the first frame, and
#: nothing else that needs numpy is. When the record loads without numpy, the first frame must too.
SETTINGS_RECORD = "layoutscope.measure.settings"

#: Loaded by a fresh interpreter; prints the modules present before (``record``: after importing only
#: SETTINGS_RECORD) and at the moment asked for, with the source file of every layoutscope module.
PROBE = r"""
import asyncio, json, os, sys
os.environ["TEXTUAL_ANIMATIONS"] = "none"
moment, path, record = sys.argv[1], sys.argv[2], sys.argv[3]
__import__(record)
before = set(sys.modules)
from layoutscope.tui.app import LayoutscopeApp
from layoutscope.tui.screens.main import MainScreen
seen = {}
if moment == "first-frame":
    MainScreen._open = lambda self, path: None  # the file opens in a worker after the first frame
app = LayoutscopeApp(path)

class Probe:  # a start marker that notes the modules present at each moment
    def reached(self, moment):
        seen.setdefault(moment, sorted(sys.modules))

app.main_screen.start_marker = Probe()

async def main():
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.export_screenshot()  # every widget on screen renders
        seen["first-frame"] = sorted(sys.modules)
        while moment != "first-frame" and "panel" not in seen:
            await pilot.pause(0.01)

asyncio.run(main())
files = {m: getattr(sys.modules.get(m), "__file__", None) for m in sys.modules if m.startswith("layoutscope")}
print(json.dumps({"before": sorted(before), "seen": seen, "files": files}))
"""


def probe(moment: str, path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, moment, str(path), SETTINGS_RECORD],
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def imports_numpy_when_loaded(source_file: str) -> bool:
    """True when the module's own top level (class bodies included, function bodies not) imports numpy."""
    def walk(nodes) -> bool:
        for node in nodes:
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "numpy" for a in node.names):
                return True
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy" and not node.level:
                return True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if walk(ast.iter_child_nodes(node)):
                return True
        return False
    return walk(ast.parse(Path(source_file).read_text(encoding="utf-8")).body)


def test_the_first_frame_imports_no_numpy_registry_backend_or_llama_cpp(tiny_llama_path):
    result = probe("first-frame", tiny_llama_path)
    before, now = set(result["before"]), set(result["seen"]["first-frame"])
    added = now - before
    assert "layoutscope.tui.screens.main" in added  # the probe did import the app
    assert not [m for m in now if m.split(".")[0] == "llama_cpp"]
    assert "layoutscope.formats.registry" not in now
    assert not [m for m in added if m.startswith("layoutscope.backend")], "a backend module beyond the record's"
    assert not [m for m in added if m.split(".")[0] == "numpy"], "numpy, though the settings record did not need it"
    needs_numpy = [m for m in sorted(added) if m.startswith("layoutscope") and result["files"].get(m)
                   and imports_numpy_when_loaded(result["files"][m])]
    assert not needs_numpy, f"these modules import numpy when loaded, for the first frame: {needs_numpy}"
    # What the panels use when they show a tensor is loaded when they first do.
    for deferred in ("layoutscope.layout.blocks", "layoutscope.report.summary", "layoutscope.report.histogram",
                     "layoutscope.tui.screens.settings"):
        assert deferred not in now


def test_the_tree_is_drawn_before_the_panel_and_the_backends_load(tiny_llama_path):
    result = probe("tree", tiny_llama_path)
    record, tree, panel = set(result["before"]), set(result["seen"]["tree"]), set(result["seen"]["panel"])
    # The file is open and its tree drawn from the size table alone: neither the format registry (its
    # dequantizers and tables) nor numpy is loaded for it, unless the settings record itself needed numpy ...
    assert "layoutscope.formats.sizes" in tree
    assert "layoutscope.formats.registry" not in tree
    assert not [m for m in tree - record if m.split(".")[0] == "numpy"], "numpy, though the settings record did not need it"
    # ... and no backend beyond the settings record's table, no explanation, no analysis and no llama_cpp yet.
    assert not [m for m in tree - record if m.startswith("layoutscope.backend")]
    assert not [m for m in tree if m.startswith(("layoutscope.analyses", "llama_cpp"))]
    assert not tree & {"layoutscope.layout.blocks", "layoutscope.layout.npu_location", "layoutscope.layout.sidebyside"}
    # The first tensor's Layout panel is what loads the layout modules.
    assert "layoutscope.layout.blocks" in panel


def test_the_tree_is_in_place_before_the_panel_and_each_is_told_once(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        moments = []

        class Marker:
            def reached(self, moment):
                main = app.main_screen
                moments.append((moment, len(main.query_one(TensorTree).visible_names()),
                                plain(main.query_one(LayoutPanel))))

        app.main_screen.start_marker = Marker()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert [m for m, _, _ in moments] == ["tree", "panel"]
            (_, tree_names, layout_at_tree), (_, _, layout_at_panel) = moments
            assert tree_names == 39  # every tensor of the sample is in the tree when "tree" is reached
            assert "Q8_0" not in layout_at_tree and "Q8_0 · type id 8" in layout_at_panel
            assert app.main_screen.start_marker is None  # told once: nothing later reports again
            assert app.main_screen.availability is not None  # and then the backends were probed
    run(body())


class FakeApp:
    """What a StartMarker needs of an app: ``_display`` (frames) and ``_batch_count``."""

    _batch_count = 0

    def __init__(self):
        self.frames = []

    def _display(self, screen, renderable):
        self.frames.append(renderable)


def test_a_moment_is_stamped_with_the_next_frame_written():
    r, w = os.pipe()
    try:
        marker, app = StartMarker(w), FakeApp()
        marker.attach(app)
        app._display(None, "before")
        marker.reached("tree")
        app._display(None, None)  # no frame
        app._batch_count = 1
        app._display(None, "batched")  # Textual writes nothing inside a batch
        app._batch_count = 0
        t0 = time.monotonic()
        app._display(None, "tree frame")
        t1 = time.monotonic()
        marker.reached("panel")
        app._display(None, "panel frame")
        app._display(None, "later")
        lines = [line.split() for line in os.read(r, 1000).decode().splitlines()]
        assert app.frames == ["before", None, "batched", "tree frame", "panel frame", "later"]
        assert [moment for moment, _ in lines] == ["tree-drawn", "panel-drawn"]
        assert t0 <= float(lines[0][1]) <= t1 <= float(lines[1][1])
        os.close(r)
        r = None
        marker.reached("tree")
        app._display(None, "after the reader left")  # EPIPE: the benchmark went away, the app carries on
        assert app.frames[-1] == "after the reader left"
    finally:
        os.close(w)
        if r is not None:
            os.close(r)


def test_without_the_variable_there_is_no_marker(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert StartMarker.from_environment() is None
    monkeypatch.setenv(ENV, "not-a-descriptor")
    assert StartMarker.from_environment() is None
    monkeypatch.setenv(ENV, "7")
    assert StartMarker.from_environment().fd == 7


def test_a_real_start_in_a_terminal_writes_both_markers(tiny_llama_path):
    import pty

    main_fd, child_fd = pty.openpty()
    marker_r, marker_w = os.pipe()
    env = {**os.environ, "TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none", ENV: str(marker_w)}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "layoutscope", str(tiny_llama_path)], stdin=child_fd,
                            stdout=child_fd, stderr=child_fd, env=env, pass_fds=(marker_w,))
    os.close(child_fd)
    os.close(marker_w)
    seen, markers = b"", b""
    deadline = time.monotonic() + 60  # a hang guard, not a speed check
    try:
        while (b"panel-drawn" not in markers or b"attn_q" not in seen) and time.monotonic() < deadline:
            for fd in select.select([main_fd, marker_r], [], [], 0.2)[0]:
                if fd == marker_r:
                    markers += os.read(marker_r, 256)
                else:
                    seen += os.read(main_fd, 65536)
        lines = [line.split() for line in markers.decode().splitlines()]
        assert [moment for moment, _ in lines] == ["tree-drawn", "panel-drawn"], markers
        tree, panel = (float(seconds) for _, seconds in lines)
        assert t0 < tree <= panel
        assert b"attn_q" in seen, seen[-500:]  # the tree really is on the terminal
        os.write(main_fd, b"q")
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([main_fd], [], [], 0.2)[0]:
                try:
                    os.read(main_fd, 65536)
                except OSError:
                    break
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main_fd)
        os.close(marker_r)


def test_the_collector_is_paused_for_the_start_and_back_on_after_it(tiny_llama_path, monkeypatch):
    import gc

    import layoutscope.tui

    during = []
    monkeypatch.setattr(LayoutscopeApp, "run", lambda self: during.append(gc.isenabled()))
    assert layoutscope.tui.run(str(tiny_llama_path)) == 0
    assert during == [False] and gc.isenabled()

    async def body(path):
        app = LayoutscopeApp(path)
        gc.disable()  # as tui.run starts the app
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            return gc.isenabled()

    try:
        assert run(body(tiny_llama_path))  # the tree and first panel are drawn: collecting again
    finally:
        gc.enable()


def test_the_collector_is_back_on_when_the_file_cannot_be_opened(tmp_path):
    import gc

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00truncated")

    async def body():
        app = LayoutscopeApp(bad)
        gc.disable()  # as tui.run starts the app
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            return gc.isenabled()

    try:
        assert run(body())
    finally:
        gc.enable()
