"""SVG snapshots of the main screens at 80×24 (``LAYOUTSCOPE_UPDATE_SNAPSHOTS=1`` rewrites them)."""

from __future__ import annotations

import os

import pytest
from tui_support import check_snapshot, run, settle, write_observed

from layoutscope.measure.settings import RunSettings
from layoutscope.tui.app import LayoutscopeApp

#: The emulator, chosen explicitly: the screens must not depend on whether this machine has an NPU.
SETTINGS = RunSettings(backend="npu-sim")


async def _at_element(app, pilot, tensor: str, row: int, col: int):
    await settle(app, pilot)
    main = app.main_screen
    main.select_tensor(tensor)
    await pilot.press("g")
    app.screen.query_one("#prompt-input").value = f"{row},{col}"
    await pilot.press("enter")
    await pilot.pause()
    return main


def snapshot(path, name: str, steps, settings: RunSettings = SETTINGS) -> None:
    async def body():
        app = LayoutscopeApp(path, settings=settings)
        async with app.run_test(size=(80, 24)) as pilot:
            await steps(app, pilot)
            await settle(app, pilot)
            check_snapshot(app.export_screenshot(), name)
    run(body())


@pytest.mark.parametrize("y,name", [(0, "layout_q8_0_top"), (33, "layout_q8_0_hex"), (53, "layout_q8_0_trap_npu")])
def test_layout_panel(tiny_llama_path, y, name):
    async def steps(app, pilot):
        await _at_element(app, pilot, "blk.0.ffn_down.weight", 3, 100)
        app.main_screen.query_one("#layout-panel").scroll_to(y=y, animate=False)
    snapshot(tiny_llama_path, name, steps)


def test_values_panel(tiny_llama_path):
    async def steps(app, pilot):
        await _at_element(app, pilot, "blk.1.ffn_up.weight", 40, 7)
        await pilot.press("2")
    snapshot(tiny_llama_path, "values_grid", steps)


def test_values_int4_flags_mismatches(tiny_llama_path):
    async def steps(app, pilot):
        await _at_element(app, pilot, "blk.0.attn_q.weight", 0, 0)
        await pilot.press("2")
    snapshot(tiny_llama_path, "values_int4_mismatch", steps, SETTINGS.with_changes(mm="int4", threshold=1e-3))


def test_matmul_results(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        app.main_screen.select_tensor("blk.2.ffn_gate.weight")
        await pilot.press("m")
    snapshot(tiny_llama_path, "matmul_results", steps)


def test_matmul_result_turned_stale(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        app.main_screen.select_tensor("blk.2.ffn_gate.weight")
        await pilot.press("m")
        await settle(app, pilot)
        app.main_screen.apply_settings(app.main_screen.settings.with_changes(mm="int4"))
    snapshot(tiny_llama_path, "matmul_stale", steps)


def test_metadata_panel(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("4")
    snapshot(tiny_llama_path, "metadata", steps)


def test_help(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("question_mark")
    snapshot(tiny_llama_path, "help", steps)


def test_error_screen(tmp_path, tiny_llama_path):
    data = open(tiny_llama_path, "rb").read()
    (tmp_path / "cut.gguf").write_bytes(data[:5000])

    async def steps(app, pilot):
        await settle(app, pilot)
    # The message names the file: a relative path keeps the snapshot the same everywhere.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        snapshot("cut.gguf", "error_truncated", steps)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("tensor,name", [("q4_k.weight", "layout_q4_k"), ("i8.weight", "layout_i8")])
def test_layout_of_other_types(all_types_path, tensor, name):
    async def steps(app, pilot):
        await _at_element(app, pilot, tensor, 1, 300)
        app.main_screen.query_one("#layout-panel").scroll_to(y=22, animate=False)
    snapshot(all_types_path, name, steps)


def test_settings_dialog(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("s")
    snapshot(tiny_llama_path, "settings", steps)


def test_scan_results(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("S", "r")
    snapshot(tiny_llama_path, "scan_results", steps)


def test_diagnose_results(tmp_path, tiny_llama_path):
    write_observed(tiny_llama_path, tmp_path, "q8_0-raw-bytes")

    async def steps(app, pilot):
        await settle(app, pilot)
        app.main_screen.select_tensor("blk.0.ffn_up.weight")
        await pilot.press("d")
        for answer in ("y.npy", "x.npy"):
            app.screen.query_one("#prompt-input").value = answer
            await pilot.press("enter")
    # The panel names the files: relative paths keep the snapshot the same everywhere.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        snapshot(tiny_llama_path, "diagnose_results", steps)
    finally:
        os.chdir(cwd)


def test_offload_after_the_first_k_sweep(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("O")
        await settle(app, pilot)
        await pilot.press("f")
    snapshot(tiny_llama_path, "offload_first_k", steps)


def test_offload_sensitivity_without_colour(tiny_llama_path, monkeypatch):
    # The bars, the "!" over the budget and the pipeline tags carry the data with NO_COLOR.
    monkeypatch.setenv("NO_COLOR", "1")

    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("O")
        await settle(app, pilot)
        await pilot.press("l")
        await settle(app, pilot)
        await pilot.press("t")
    snapshot(tiny_llama_path, "offload_sensitivity_no_color", steps)


def test_tree_tagged_by_the_offload_plan(tiny_llama_path):
    async def steps(app, pilot):
        await settle(app, pilot)
        await pilot.press("O")
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        await pilot.press("escape")
    snapshot(tiny_llama_path, "tree_offload_tags", steps)
