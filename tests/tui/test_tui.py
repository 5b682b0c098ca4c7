"""The TUI driven by Pilot: navigation, layer stepping, matmul on npu-sim, CSV exports, bad files, the palette."""

from __future__ import annotations

import csv
import threading

import numpy as np
import pytest
from tui_support import plain, run, screen_text, settle, write_observed

import layoutscope
from layoutscope.report.csv_tables import COMPARISON_COLUMNS
from layoutscope.measure.settings import RunSettings
from layoutscope.report.csv_tables import SIDE_BY_SIDE_COLUMNS
from layoutscope.tui.app import LayoutscopeApp
from layoutscope.tui.screens.error import ErrorScreen
from layoutscope.tui.widgets.tensor_tree import TensorTree
from layoutscope.tui.widgets.values_grid import ValuesGrid


def screen(app) -> str:
    return "\n".join(screen_text(app.export_screenshot()))


def status(app) -> str:
    return plain(app.main_screen.query_one("#status")).strip()


async def opened(app, pilot):
    await settle(app, pilot)
    return app.main_screen


def test_first_screen_shows_the_model_grouped_by_layer(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            assert main.current == "blk.0.attn_q.weight"
            tree = main.query_one(TensorTree)
            assert tree.visible_names()[:3] == ["token_embd.weight", "output_norm.weight", "output.weight"]
            text = screen(app)
            assert "blk.0.attn_q.weight Q8_0 256×256 @ 0,0" in text
            assert "nb1 = 34 × 256/32 = 34 × 8 = 272 B" in text
            assert "]/[ layer" in text and "q quit" in text
            assert "39 tensors" in status(app)
    run(body())


def test_layer_stepping_keeps_the_role(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            main.query_one(TensorTree).focus()
            for _ in range(8):  # attn_q → ... → ffn_down in layer 0
                await pilot.press("j")
            assert main.current == "blk.0.ffn_down.weight"
            await pilot.press("right_square_bracket")
            assert main.current == "blk.1.ffn_down.weight"
            await pilot.press("right_square_bracket", "right_square_bracket")
            assert main.current == "blk.3.ffn_down.weight"
            await pilot.press("right_square_bracket")
            assert main.current == "blk.3.ffn_down.weight" and "no later layer" in status(app)
            await pilot.press("left_square_bracket")
            assert main.current == "blk.2.ffn_down.weight"
            assert main.query_one(TensorTree).current() == "blk.2.ffn_down.weight"
            assert "blk.2.ffn_down.weight Q8_0 704×256" in screen(app)
            main.select_tensor("token_embd.weight")
            await pilot.press("right_square_bracket")
            assert main.current == "token_embd.weight" and "not in a layer" in status(app)
    run(body())


def test_filter_narrows_the_tree(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("slash", *"ffn_down", "enter")
            tree = main.query_one(TensorTree)
            assert tree.visible_names() == [f"blk.{i}.ffn_down.weight" for i in range(4)]
            assert main.current == "blk.0.ffn_down.weight"  # the first match, as the current one is hidden
            await pilot.press("down", "down")  # over the "layer 1" branch
            assert main.current == "blk.1.ffn_down.weight"
    run(body())


def test_matmul_on_npu_sim_and_its_csv(tiny_llama_path, tmp_path, monkeypatch):
    import layoutscope.backend as backend

    monkeypatch.setattr(backend, "available_backends", lambda: [
        ("cpu", True, "ready"), ("cpu-numpy", True, "ready"), ("npu-sim", True, "ready"),
        ("npu", False, "librknnrt.so not found (test)")])

    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            await settle(app, pilot)
            comparison, notices = main.comparisons["blk.0.attn_q.weight"]
            # The default input is real (issue 12): the reference is llama.cpp's own output for those rows.
            assert comparison.backend == "npu-sim" and comparison.reference == "llama.cpp"
            assert comparison.input.startswith("real, 8 rows of blk.0.attn_q.weight's input")
            text = screen(app)
            assert "blk.0.attn_q.weight: npu-sim vs" in text and "verdict OK" in text
            # One line for the choice; the reason under notes.
            assert "NPU side: npu-sim · npu unavailable (see notes)\n" in plain(main.query_one("#matmul-settings"))
            assert ("npu unavailable: librknnrt.so not found (test); running the exact emulator"
                    in " ".join(plain(main.query_one("#matmul-notes")).split()))
            assert "✓ Q8_0  attn_q" in text
            assert main.verdicts.get("blk.0.attn_q.weight").verdict == "ok"
            worst = main.query_one("#matmul-worst")
            assert worst.row_count == 10
            assert "|error| histogram" in plain(main.query_one("#matmul-histogram"))

            target = tmp_path / "cmp.csv"
            await pilot.press("x")
            prompt = app.screen.query_one("#prompt-input")
            assert prompt.value == "blk.0.attn_q.weight.compare.csv"
            prompt.value = str(target)
            await pilot.press("enter")
            await settle(app, pilot)
            assert f"wrote 2048 rows to {target}" in status(app)
            rows = list(csv.reader(target.open()))
            assert tuple(rows[0]) == COMPARISON_COLUMNS and len(rows) == 1 + 8 * 256
            head = dict(zip(rows[0], rows[1 + 3 * 256 + 7]))
            assert head["tensor"] == "blk.0.attn_q.weight" and head["backend"] == "npu-sim"
            assert (head["m"], head["n"], head["platform"], head["mm"]) == ("3", "7", "rk3588", "int8")
            assert float(head["npu_value"]) == float(comparison.y[3, 7])
            assert float(head["reference_value"]) == float(comparison.y_reference[3, 7])
    run(body())


def test_unwritable_export_path_shows_the_error_and_keeps_running(tiny_llama_path, tmp_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("x")
            assert "no comparison for blk.0.attn_q.weight yet" in status(app)
            await pilot.press("m")
            await settle(app, pilot)
            await pilot.press("x")
            app.screen.query_one("#prompt-input").value = str(tmp_path / "no" / "such" / "dir" / "x.csv")
            await pilot.press("enter")
            await settle(app, pilot)
            line = status(app)
            assert line.startswith("export path '") and "x.csv" in line and "does not exist" in line
            assert not list(tmp_path.iterdir())
            await pilot.press("right_square_bracket")
            assert main.current == "blk.1.attn_q.weight" and app.is_running
    run(body())


def test_values_grid_moves_element_by_element_and_jumps(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("2")
            grid = main.query_one(ValuesGrid)
            assert app.focused is grid
            await pilot.press("down", "down", "right", "l", "l")
            assert (grid.row, grid.col) == main.cursor == (2, 3)
            await pilot.press("pagedown")
            assert grid.row > 2 and grid.col == 3
            await pilot.press("g")
            app.screen.query_one("#prompt-input").value = "200,100"
            await pilot.press("enter")
            await pilot.pause()
            assert main.cursor == (200, 100) and (grid.row, grid.col) == (200, 100)
            text = screen(app)
            assert "row 200" in text and "@ 200,100" in text
            with layoutscope.open(tiny_llama_path) as model:
                value = float(model.tensor("blk.0.attn_q.weight").dequantize(200)[0, 100])
            assert f"{value:.4g}" in text
            # The Layout panel follows the cursor, and ] keeps it on the same element.
            await pilot.press("1")
            assert "element (row 200, col 100)" in plain(main.query_one("#layout-panel"))
            await pilot.press("right_square_bracket")
            assert main.cursor == (200, 100)
            assert "element (row 200, col 100)" in plain(main.query_one("#layout-panel"))
            await pilot.press("g")
            app.screen.query_one("#prompt-input").value = "999,0"
            await pilot.press("enter")
            assert "outside blk.1.attn_q.weight" in status(app) and main.cursor == (200, 100)
    run(body())


def test_values_export_writes_the_weight_side_by_side(tiny_llama_path, tmp_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            main.select_tensor("blk.0.attn_k.weight")
            await pilot.press("2", "x")
            prompt = app.screen.query_one("#prompt-input")
            assert prompt.value == "blk.0.attn_k.weight.values.csv"
            prompt.value = str(tmp_path / "w.csv")
            await pilot.press("enter")
            await settle(app, pilot)
            assert "wrote 32768 rows" in status(app)
            rows = list(csv.reader((tmp_path / "w.csv").open()))
            assert tuple(rows[0]) == SIDE_BY_SIDE_COLUMNS == ("row", "col", "dequantized", "npu_code", "npu_value", "abs_err")
            assert len(rows) == 1 + 128 * 256
            row = dict(zip(rows[0], rows[1 + 5 * 256 + 9]))
            grid = main.query_one(ValuesGrid)
            win = grid.sbs.window(5)
            assert (row["row"], row["col"]) == ("5", "9")
            assert int(row["npu_code"]) == int(win.codes[5, 9])
            assert float(row["abs_err"]) == pytest.approx(float(win.abs_err[5, 9]))
    run(body())


def test_n_walks_to_tensors_worse_than_the_threshold(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=RunSettings(threshold=1e-12))
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("n")
            assert main.current == "blk.0.attn_q.weight" and "no tensor's comparison under the current settings" in status(app)
            main.select_tensor("blk.2.ffn_up.weight")
            await pilot.press("m")
            await settle(app, pilot)
            now = main.settings.fingerprint
            main.verdicts.record("blk.1.attn_v.weight", 0.5, source="scan", settings=now)  # as a scan would
            main.verdicts.record("blk.3.attn_k.weight", 1e-13, source="scan", settings=now)  # better than the threshold
            main.select_tensor("blk.0.attn_q.weight")
            await pilot.press("n")
            assert main.current == "blk.1.attn_v.weight"
            await pilot.press("n")
            assert main.current == "blk.2.ffn_up.weight"
            await pilot.press("n")
            assert main.current == "blk.1.attn_v.weight"
            await pilot.press("N")
            assert main.current == "blk.2.ffn_up.weight"
    run(body())


def test_settings_dialog_validates_and_applies(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("s")
            dialog = app.screen
            dialog.query_one("#set-weight-quant").value = "per-group:32"
            await pilot.press("ctrl+s")
            assert app.screen is dialog
            error = plain(dialog.query_one("#settings-error"))
            assert "weights 'per-group:32': per-group scales need mm int8-fp32" in error and "--" not in error
            dialog.query_one("#set-weight-quant").value = "per-channel"
            dialog.query_one("#set-mm").value = "int4"
            dialog.query_one("#set-threshold").value = "1e-3"
            await pilot.press("ctrl+s")
            assert app.screen is main
            assert main.settings.mm == "int4" and main.settings.threshold == 1e-3
            await pilot.press("m")
            await settle(app, pilot)
            notes = plain(main.query_one("#matmul-notes"))
            assert "UNCERTAIN" in notes  # int4's int16 overflow behaviour is unconfirmed
            assert main.comparisons["blk.0.attn_q.weight"][0].details["backend"]["mm"] == "int4"
            await pilot.press("1")
            assert "native B (rk3588, int4)" in plain(main.query_one("#layout-panel"))
    run(body())


def test_a_running_matmul_can_be_cancelled(tiny_llama_path, monkeypatch):
    import layoutscope.measure.inputs as inputs

    release = threading.Event()
    real = inputs.load_input

    def slow_input(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(inputs, "load_input", slow_input)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=RunSettings(input="random"))
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            assert "running" in plain(main.query_one("#matmul-stage"))
            await pilot.press("escape")
            release.set()
            await settle(app, pilot)
            assert "cancelled" in status(app)
            assert "blk.0.attn_q.weight" not in main.comparisons and main.verdicts.get("blk.0.attn_q.weight") is None
    run(body())


def test_a_matmul_capturing_its_real_input_can_be_cancelled(tiny_llama_path, monkeypatch):
    import asyncio

    import layoutscope.inference.capture as capture_module

    release, reached = threading.Event(), threading.Event()
    real = capture_module.capture

    def slow_capture(*args, checkpoint, **kwargs):
        reached.set()
        release.wait(10)
        checkpoint()  # what the capture does between chunks: the TUI's cancel must stop it here
        return real(*args, checkpoint=checkpoint, **kwargs)

    monkeypatch.setattr(capture_module, "capture", slow_capture)

    async def body():
        app = LayoutscopeApp(tiny_llama_path)  # the default input: real
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            assert await asyncio.to_thread(reached.wait, 10)
            await pilot.press("escape")
            release.set()
            await settle(app, pilot)
            assert "cancelled" in status(app)
            assert "blk.0.attn_q.weight" not in main.comparisons and main.verdicts.get("blk.0.attn_q.weight") is None
    run(body())


def test_command_palette_jumps_to_a_tensor(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("ctrl+p")
            await pilot.press(*"blk.2.ffn_gate")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "tensor: blk.2.ffn_gate.weight" in screen(app)
            await pilot.press("enter")
            await pilot.pause()
            assert main.current == "blk.2.ffn_gate.weight"
            assert main.query_one(TensorTree).current() == "blk.2.ffn_gate.weight"
    run(body())


def test_help_lists_the_keys(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("question_mark")
            text = screen(app)
            for keys in ("] / [", "n / N", "ctrl+p", "next / previous layer, keeping the tensor's role",
                         "the Scan screen: every matmul weight, worst first", "diagnose which known bug"):
                assert keys in text
            await pilot.press("escape")
            assert app.screen is app.main_screen
    run(body())


def test_metadata_is_lazy_scrollable_and_searchable(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("4")
            keys = main.query_one("#metadata-keys")
            keys.focus()
            keys.move_cursor(row=list(main.model.entries).index("tokenizer.ggml.tokens"))
            await settle(app, pilot)
            assert "tokenizer.ggml.tokens: 1000 × STRING" in screen(app)
            search = main.query_one("#metadata-search")
            search.focus()
            search.value = "<0x0A>"
            await pilot.press("enter")
            await settle(app, pilot)
            title = plain(main.query_one("#metadata-title"))
            index = list(main.model.metadata["tokenizer.ggml.tokens"]).index("<0x0A>")
            assert f"match 1 of 1: #{index}" in title
            assert f"{index:>8}  '<0x0A>'" in screen(app)
    run(body())


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("damage", ["truncated", "not gguf"])
def test_a_bad_file_shows_the_readers_message(tiny_llama_path, tmp_path, damage):
    data = open(tiny_llama_path, "rb").read()
    bad = data[: len(data) // 2] if damage == "truncated" else b"PK\x03\x04" + data[4:200]
    path = _write(tmp_path, "bad.gguf", bad)
    with pytest.raises(layoutscope.GGUFError) as caught:
        layoutscope.open(path)
    expected = caught.value.line()

    async def body():
        app = LayoutscopeApp(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert isinstance(app.screen, ErrorScreen)
            assert app.screen.line == expected
            text = " ".join(line.strip() for line in screen_text(app.export_screenshot()))
            assert "layoutscope cannot open this file" in text and "Traceback" not in text
            assert "byte" in text
            await pilot.press("q")
        assert app.return_code == 2
    run(body())


def test_unknown_type_shows_raw_bytes_and_why(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[2] / "samples"))
    from ggufwrite import STRING, GGUFBuilder

    path = tmp_path / "fork.gguf"
    (GGUFBuilder().add("general.architecture", STRING, "llama")
     .add_tensor("blk.0.attn_q.weight", (64, 2), 77, bytes(range(96)))
     .add_tensor("blk.0.ffn_up.weight", (32, 2), 0, np.ones(64, np.float32).tobytes())
     .write(path))

    async def body():
        app = LayoutscopeApp(path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            main.select_tensor("blk.0.attn_q.weight")
            await pilot.pause()
            body_text = plain(main.query_one("#layout-panel"))
            assert "values are not available: type id 77 is not a ggml type" in body_text
            assert "00 01 02 03 04 05" in body_text
            await pilot.press("2")
            assert "values are not available" in screen(app)
            await pilot.press("m")
            await settle(app, pilot)
            assert app.is_running and main.current == "blk.0.attn_q.weight"
    run(body())


def test_no_color_renders_without_colour(tiny_llama_path, monkeypatch):
    import re

    monkeypatch.setenv("NO_COLOR", "1")

    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            svg = app.export_screenshot()
        # c5c8c6 is the SVG exporter's own default foreground (frame title, line ends), not the app's.
        colours = set(re.findall(r"-r\d+ \{ fill: #([0-9a-f]{6})", svg) + re.findall(r'<rect fill="#([0-9a-f]{6})"', svg))
        colours.discard("c5c8c6")
        coloured = [c for c in colours if not c[0:2] == c[2:4] == c[4:6]]
        assert colours and not coloured, coloured
    run(body())


def test_layoutscope_file_opens_the_tui_in_a_terminal(tiny_llama_path):
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    main_fd, child_fd = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "layoutscope", str(tiny_llama_path)],
                            stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env, close_fds=True)
    os.close(child_fd)
    seen = b""
    deadline = time.monotonic() + 60  # a hang guard, not a speed check
    try:
        while b"attn_q" not in seen and time.monotonic() < deadline:
            if select.select([main_fd], [], [], 0.2)[0]:
                seen += os.read(main_fd, 65536)
        assert b"attn_q" in seen, seen[-500:]
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


# -- the Scan screen ----------------------------------------------------------------------------
SIM = RunSettings(backend="npu-sim")


def scan_table_names(scan) -> list[str]:
    table = scan.query_one("#scan-table")
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


def test_scan_screen_runs_on_the_real_input_by_default(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=RunSettings(backend="npu-sim"))
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("S", "r")
            await settle(app, pilot)
            report = app.screen.report
            # The same capture as the Matmul panel's: llama.cpp's own outputs are the reference of every weight.
            assert report.reference == "llama.cpp" and report.inputs["real"].startswith("real, 8 rows per weight (29")
            assert len(report.rows) == 29
    run(body())


def test_scan_ranks_every_matmul_weight_and_enter_jumps_to_it(tiny_llama_path):
    from layoutscope.tui.screens.scan import ScanScreen

    async def body():
        # Random rows: the planted outlier of blk.3.ffn_down ranks first on them.
        app = LayoutscopeApp(tiny_llama_path, settings=SIM.with_changes(input="random"))
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("S")
            scan = app.screen
            assert isinstance(scan, ScanScreen)
            text = screen(app)
            assert "29 matmul weights, 10 other tensors skipped" in text and "r runs the scan" in text
            assert "npu-sim vs cpu · rk3588 · mm int8 · weights per-channel" in text
            summary = plain(scan.query_one("#scan-summary"))
            assert "skipped (10)" in summary and "ggml_get_rows, not a matmul (1):\n    token_embd.weight" in summary
            await pilot.press("r")
            await settle(app, pilot)
            names = scan_table_names(scan)
            assert len(names) == 29 and names[0] == "blk.3.ffn_down.weight"
            assert names == [r.tensor for r in scan.report.primary]  # worst first
            assert "done: 29 of 29 · worst blk.3.ffn_down.weight DEGRADED" in screen(app)
            summary = plain(scan.query_one("#scan-summary"))
            assert "first layer with a weight over NMSE 0.0005: blk.3" in summary
            # Measured numbers only: the additive "accumulated" estimate is gone (the eval sweep measures it).
            assert "accumulated" not in summary and "skipped (10)" in summary
            # Every row is in the verdict store, so the tree shows it and n walks it.
            assert len(main.verdicts) == 29
            assert {main.verdicts.get(n).source for n in names} == {"scan"}
            assert main.verdicts.get("blk.3.ffn_down.weight").verdict == "degraded"
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is main
            assert main.current == "blk.3.ffn_down.weight"
            assert main.query_one(TensorTree).current() == "blk.3.ffn_down.weight"
            assert "scan verdict DEGRADED" in status(app)
            text = screen(app)
            assert "~ Q8_0  ffn_down 704×256" in text and "✓ Q8_0  ffn_up 256×704" in text
            main.select_tensor("blk.0.attn_q.weight")
            await pilot.press("n")
            assert main.current == "blk.3.ffn_down.weight"
            # The screen is kept: opening it again shows the same results.
            await pilot.press("S")
            assert app.screen is scan and len(scan_table_names(scan)) == 29
            await pilot.press("down", "down", "enter")
            await pilot.pause()
            assert app.screen is main and main.current == names[2]
    run(body())


def test_the_palette_opens_the_scan_screen(tiny_llama_path):
    from layoutscope.tui.screens.scan import ScanScreen

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("ctrl+p", *"scan: every")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "scan: every matmul weight" in screen(app)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ScanScreen)
            await pilot.press("escape")
            assert app.screen is app.main_screen
    run(body())


def test_a_cancelled_scan_keeps_the_finished_rows(tiny_llama_path, monkeypatch):
    import asyncio

    from layoutscope.analyses.scan import Scanner
    from layoutscope.tui.screens.scan import ScanScreen

    # One thread measures the weights in file order; the fourth blocks until the test lets it go,
    # which is after the scan was cancelled: exactly three rows finish.
    monkeypatch.setattr(ScanScreen, "JOBS", 1)
    reached, release = threading.Event(), threading.Event()
    calls = []
    real = Scanner.measure

    def measure(self, weight):
        calls.append(weight.name)
        if len(calls) == 4:
            reached.set()
            release.wait(30)
        return real(self, weight)

    monkeypatch.setattr(Scanner, "measure", measure)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("S", "r")
            scan = app.screen
            try:
                assert await asyncio.to_thread(reached.wait, 30)
                await pilot.press("escape")
                assert app.screen is scan  # esc cancels first; it does not leave
                await settle(app, pilot)
            finally:
                release.set()
            assert scan.report.interrupted
            names = scan_table_names(scan)
            assert sorted(names) == sorted(calls[:3])
            assert sorted(main.verdicts.names()) == sorted(calls[:3])
            assert "cancelled after 3 of 29: the table keeps the finished rows" in screen(app)
            await pilot.press("escape")
            assert app.screen is main
    run(body())


def test_a_scan_with_a_bad_input_shows_the_error(tiny_llama_path, tmp_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM.with_changes(input=str(tmp_path / "missing.npy")))
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("S", "r")
            await settle(app, pilot)
            stage = plain(app.screen.query_one("#scan-stage"))
            assert stage.startswith("scan failed:") and "missing.npy" in stage
            assert app.screen.query_one("#scan-table").row_count == 0 and len(main.verdicts) == 0
            # Fixed in the settings, the scan runs.
            await pilot.press("s")
            app.screen.query_one("#set-input").value = "random:1"
            await pilot.press("ctrl+s")
            assert main.settings.input == "random:1" and "input random:1" in screen(app)
            await pilot.press("r")
            await settle(app, pilot)
            assert app.screen.query_one("#scan-table").row_count == 29
    run(body())


# -- diagnose in the Matmul panel ---------------------------------------------------------------
@pytest.fixture
def observed_files(tiny_llama_path, tmp_path):
    """x.npy (4, 256) and y.npy: blk.0.ffn_up.weight's output with B given as W (``b-transposed``)."""
    write_observed(tiny_llama_path, tmp_path, "b-transposed")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 5), np.float32))
    return tmp_path


async def _diagnose(app, pilot, *answers):
    """Diagnose blk.0.ffn_up.weight, answering the prompts with ``answers``."""
    app.main_screen.select_tensor("blk.0.ffn_up.weight")
    await pilot.press("d")
    for answer in answers:
        app.screen.query_one("#prompt-input").value = str(answer)
        await pilot.press("enter")
    await settle(app, pilot)


def test_diagnose_ranks_the_injected_bug_first(tiny_llama_path, observed_files):
    d = observed_files

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await _diagnose(app, pilot, d / "y.npy", d / "x.npy")
            diagnosis, observed, x = main.diagnoses["blk.0.ffn_up.weight"]
            assert diagnosis.best.id == "b-transposed" and (observed, x) == (str(d / "y.npy"), str(d / "x.npy"))
            assert main.query_one("#tabs").active == "matmul"
            text = plain(main.query_one("#matmul-diagnosis"))
            assert "best match: b-transposed (NMSE 0)" in text and "fix: B is Wᵀ" in text
            ranked = [line.split()[1] for line in text.splitlines() if line[:3].strip().isdigit()]
            assert ranked[0] == "b-transposed" and "none" in ranked
            assert "- kn-swapped" not in text  # ffn_up is not square: every hypothesis applies
            assert "best match: b-transposed" in status(app)
            # Another tensor has no diagnosis; coming back shows it again.
            main.select_tensor("blk.0.attn_q.weight")
            assert not main.query_one("#matmul-diagnosis").display
            main.select_tensor("blk.0.ffn_up.weight")
            assert main.query_one("#matmul-diagnosis").display
    run(body())


def test_diagnose_takes_x_from_an_npy_input_setting(tiny_llama_path, observed_files):
    d = observed_files

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM.with_changes(input=str(d / "x.npy")))
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            main.select_tensor("blk.0.ffn_up.weight")
            await pilot.press("d")
            assert f"X is the input setting, {d / 'x.npy'}" in plain(app.screen.query_one("#prompt-hint"))
            app.screen.query_one("#prompt-input").value = str(d / "y.npy")
            await pilot.press("enter")
            await settle(app, pilot)
            assert main.diagnoses["blk.0.ffn_up.weight"][0].best.id == "b-transposed"
    run(body())


@pytest.mark.parametrize("observed,x,message", [
    ("wrong.npy", "x.npy", "shape is (3, 5), expected (M, N) = (4, 704)"),
    ("missing.npy", "x.npy", "missing.npy': no such file"),
    ("y.npy", "y.npy", "shape is (4, 704), expected float32 (M, 256)"),
])
def test_diagnose_with_a_bad_file_shows_one_line_and_keeps_running(tiny_llama_path, observed_files, observed, x,
                                                                  message):
    d = observed_files

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await _diagnose(app, pilot, d / observed, d / x)
            assert status(app).startswith("diagnose: ") and message in status(app)
            assert message in " ".join(plain(main.query_one("#matmul-stage")).split())
            assert "blk.0.ffn_up.weight" not in main.diagnoses and app.is_running
            await pilot.press("right_square_bracket")
            assert main.current == "blk.1.ffn_up.weight"
    run(body())


def test_a_running_diagnosis_can_be_cancelled(tiny_llama_path, observed_files, monkeypatch):
    import asyncio

    import layoutscope.measure.inputs as inputs_module
    from layoutscope.tui import messages as msg
    from layoutscope.tui.screens.main import MainScreen

    release, failed = threading.Event(), threading.Event()
    real_load, real_post = inputs_module.load_observed, MainScreen.post_message

    def slow_load(*args, **kwargs):
        release.wait(30)
        return real_load(*args, **kwargs)

    def post(self, message):
        posted = real_post(self, message)
        if isinstance(message, msg.DiagnoseFailed):
            failed.set()  # the worker's last message is queued: the test may now look
        return posted

    monkeypatch.setattr(inputs_module, "load_observed", slow_load)
    monkeypatch.setattr(MainScreen, "post_message", post)
    d = observed_files

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            main.select_tensor("blk.0.ffn_up.weight")
            await pilot.press("d")
            for answer in (d / "y.npy", d / "x.npy"):
                app.screen.query_one("#prompt-input").value = str(answer)
                await pilot.press("enter")
            assert "running: diagnose blk.0.ffn_up.weight" in plain(main.query_one("#matmul-stage"))
            await pilot.press("escape")
            release.set()
            assert await asyncio.to_thread(failed.wait, 30)
            await settle(app, pilot)
            assert status(app) == "diagnosis of blk.0.ffn_up.weight cancelled"
            assert "blk.0.ffn_up.weight" not in main.diagnoses and app.is_running
    run(body())


def test_matmul_runs_on_the_npu_when_librknnrt_is_there(tiny_llama_path, fake_rknnrt, monkeypatch):
    monkeypatch.setenv("LAYOUTSCOPE_RKNNRT", str(fake_rknnrt("2.3")))

    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            await settle(app, pilot)
            comparison, _ = main.comparisons["blk.0.attn_q.weight"]
            assert comparison.backend == "npu" and "librknnrt 2.3.2" in comparison.details["backend"]["runtime"]
            assert "NPU side: npu (the real NPU)" in plain(main.query_one("#matmul-settings"))
            assert "blk.0.attn_q.weight: npu vs" in screen(app)
    run(body())
