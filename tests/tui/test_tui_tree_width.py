"""The tree's width: fitted to its names and shapes, never at the panel's cost at 80 columns, moved by < and >."""

from __future__ import annotations

import pytest
from tui_support import plain, run, screen_text, settle

from layoutscope.samples.ggufwrite import STRING, UINT32, GGUFBuilder
from layoutscope.tui.app import LayoutscopeApp
from layoutscope.tui.widgets.tensor_tree import (
    PANEL_LEAST, RESIZE_STEP, SIDEBAR_FLOOR, SIDEBAR_LEAST, SIDEBAR_SHARE, fitted_width, sidebar_width,
)

Q8_0, F32 = 8, 0


@pytest.fixture(scope="module")
def gemma_like(tmp_path_factory):
    """One Gemma-3-1B-shaped layer (long role names, wide shapes), its data a hole: only the header is read."""
    builder = GGUFBuilder().add("general.architecture", STRING, "gemma3").add("gemma3.block_count", UINT32, 1)
    tensors = [("token_embd.weight", (1152, 262144), Q8_0), ("blk.0.attn_norm.weight", (1152,), F32),
               ("blk.0.attn_q.weight", (1152, 1024), Q8_0), ("blk.0.attn_output.weight", (1024, 1152), Q8_0),
               ("blk.0.post_attention_norm.weight", (1152,), F32), ("blk.0.ffn_down.weight", (6912, 1152), Q8_0),
               ("blk.0.post_ffw_norm.weight", (1152,), F32), ("output_norm.weight", (1152,), F32)]
    offset = 0
    for name, ne, type_id in tensors:
        builder.add_tensor(name, ne, type_id, b"", offset=offset)
        n = 1
        for d in ne:
            n *= d
        size = n // 32 * 34 if type_id == Q8_0 else n * 4
        offset += size + (-size % builder.alignment)
    head = builder.header_bytes()
    start = len(head) + (-len(head) % builder.alignment)
    path = tmp_path_factory.mktemp("gemma") / "gemma-like.gguf"
    with open(path, "wb") as f:
        f.write(head + bytes(start - len(head)))
        f.truncate(start + offset)
    return path


def widths(app) -> tuple[int, int]:
    """(sidebar, panel) columns on screen."""
    main = app.main_screen
    return main.query_one("#sidebar").outer_size.width, main.query_one("#main").outer_size.width


@pytest.mark.parametrize("model", ["tiny_llama_path", "gemma_like"])
def test_at_80_columns_the_panel_keeps_its_room(model, request):
    async def body():
        app = LayoutscopeApp(request.getfixturevalue(model))
        async with app.run_test(size=(80, 24)) as pilot:
            assert widths(app) == (SIDEBAR_FLOOR, 80 - SIDEBAR_FLOOR)  # before the file is open
            await settle(app, pilot)
            assert widths(app) == (30, 50)  # as before the tree was fitted: 50 columns for the panel
    run(body())


def test_at_160_columns_the_tree_shows_whole_names_and_shapes(gemma_like):
    async def body():
        app = LayoutscopeApp(gemma_like)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(app, pilot)
            sidebar, panel = widths(app)
            assert SIDEBAR_FLOOR < sidebar <= 160 * SIDEBAR_SHARE
            tree = [line[:sidebar] for line in screen_text(app.export_screenshot(), 160, 40)]
            for label in ("Q8_0  token_embd 1152×262144", "Q8_0  attn_output 1024×1152",
                          "F32   post_attention_norm 1152", "Q8_0  ffn_down 6912×1152", "F32   post_ffw_norm 1152"):
                assert any(label in line for line in tree), (label, tree)  # whole, not cut at the border
    run(body())


def test_the_tree_is_refitted_when_the_terminal_is_resized(gemma_like):
    async def body():
        app = LayoutscopeApp(gemma_like)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert widths(app) == (30, 50)
            await pilot.resize_terminal(160, 40)
            await pilot.pause()
            wide = widths(app)
            assert wide[0] > 30 and sum(wide) == 160
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            assert widths(app) == (30, 50)
    run(body())


def test_less_and_greater_move_the_tree_for_the_session(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("greater_than_sign")
            await pilot.pause()
            assert widths(app) == (30 + RESIZE_STEP, 50 - RESIZE_STEP)
            assert f"tree {30 + RESIZE_STEP} columns wide" in plain(app.main_screen.query_one("#status"))
            for _ in range(2):
                await pilot.press("less_than_sign")
            await pilot.pause()
            assert widths(app) == (30 - RESIZE_STEP, 50 + RESIZE_STEP)
            for _ in range(10):  # far past the least: it stops there
                await pilot.press("less_than_sign")
            await pilot.pause()
            assert widths(app)[0] == SIDEBAR_LEAST
            assert "as narrow as it goes" in plain(app.main_screen.query_one("#status"))
            await pilot.press("greater_than_sign")  # one press back, however many went past the bound
            await pilot.pause()
            assert widths(app)[0] == SIDEBAR_LEAST + RESIZE_STEP
            # The move is kept when the terminal changes size: the tree stays that much narrower than it fits.
            await pilot.resize_terminal(160, 40)
            await pilot.pause()
            fitted = fitted_width(app.main_screen.query_one("#tree").content_width + 2, 160)
            assert widths(app)[0] == fitted - (30 - SIDEBAR_LEAST - RESIZE_STEP)
    run(body())


def test_typing_less_or_greater_in_the_filter_is_text_not_a_resize(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("slash", "less_than_sign", "greater_than_sign")
            assert app.main_screen.query_one("#filter").value == "<>"
            assert widths(app) == (30, 50)
    run(body())


@pytest.mark.parametrize("content,screen,adjust,expected", [
    (29, 80, 0, 30),     # narrower than the floor: the floor
    (40, 80, 0, 30),     # wider, but at 80 columns the panel keeps 50
    (40, 100, 0, 40),    # fits
    (80, 100, 0, 45),    # capped at the share
    (80, 160, 0, 72),
    (40, 160, 8, 48),    # the user's move adds to the fit
    (40, 160, -40, SIDEBAR_LEAST),
    (40, 60, 40, 60 - PANEL_LEAST),
    (30, 40, 0, 30),     # a tiny screen keeps the old 30 unless the user moves it
])
def test_sidebar_width(content, screen, adjust, expected):
    assert sidebar_width(content, screen, adjust) == expected
