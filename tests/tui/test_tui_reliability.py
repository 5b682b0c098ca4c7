"""The TUI against issue 10: no stale or wrong answer, no death, no raw control characters, usable at 80×24.

Pilot-driven: each test runs the app headless at 80×24 and asserts what the
user sees (the screen's text, the status line, the focused widget) and what
the app keeps (results, verdicts), on the bundled sample or on small files
crafted here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tui_support import plain, run, screen_text, settle

from layoutscope.measure.settings import RunSettings
from layoutscope.tui.app import LayoutscopeApp
from layoutscope.tui.widgets.tensor_tree import TensorTree

sys.path.insert(0, str(Path(__file__).parents[2] / "samples"))
from ggufwrite import STRING, GGUFBuilder  # noqa: E402

# Random rows: these tests are about results and settings, not about where the input comes from.
SIM = RunSettings(backend="npu-sim", input="random")
Q8_0, F32 = 8, 0


def screen(app) -> str:
    return "\n".join(screen_text(app.export_screenshot()))


def panel(app) -> str:
    """The right-hand panel's text at 80×24 (right of the tree), its lines joined with spaces."""
    return " ".join(line[31:].strip() for line in screen_text(app.export_screenshot()))


def status(app) -> str:
    return plain(app.main_screen.query_one("#status")).strip()


async def opened(app, pilot):
    await settle(app, pilot)
    return app.main_screen


def q8_bytes(rows: int, k: int, seed: int = 0) -> bytes:
    """Q8_0 blocks of random codes under the scale 0.01."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(rows * k // 32, 34), dtype=np.uint8)
    blocks[:, :2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
    return blocks.tobytes()


def write_model(path: Path, tensors, metadata=(("general.architecture", "llama"),)) -> Path:
    """A small GGUF: string metadata and (name, ne, type) tensors with random Q8_0 or ones for F32."""
    builder = GGUFBuilder()
    for key, value in metadata:
        builder.add(key, STRING, value)
    for i, (name, ne, type_id) in enumerate(tensors):
        n = int(np.prod(ne)) if ne else 0
        data = q8_bytes(n // ne[0], ne[0], i) if type_id == Q8_0 and n else np.ones(n, np.float32).tobytes()
        builder.add_tensor(name, ne, type_id, data)
    builder.write(path)
    return path


# -- 1. results are tied to the settings that made them ------------------------------------


def test_a_result_made_with_other_settings_is_marked_stale_and_never_used(tiny_llama_path, tmp_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM.with_changes(threshold=1e-12))
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            await settle(app, pilot)
            assert "blk.0.attn_q.weight · DEGRADED 1.4e-04 ·" in screen(app)
            main.select_tensor("blk.0.attn_k.weight")
            await pilot.press("n")
            assert main.current == "blk.0.attn_q.weight"  # the int8 result is worse than 1e-12: n finds it

            await pilot.press("s")
            app.screen.query_one("#set-mm").value = "int4"
            await pilot.press("ctrl+s")
            assert main.settings.mm == "int4"
            assert "settings saved: mm int8 → int4 · 1 result(s) made with other settings are marked stale" \
                   in status(app)
            text = screen(app)
            assert "blk.0.attn_q.weight · stale DEGRADED 1.4e-04 ·" in text
            assert "? Q8_0  attn_q 256×256" in text  # the tree's mark
            results = plain(main.query_one("#matmul-results"))
            assert results.startswith("STALE result: made with mm int8 → int4")

            main.select_tensor("blk.0.attn_k.weight")
            await pilot.press("n")
            assert main.current == "blk.0.attn_k.weight"
            assert "1 result(s) made with other settings are stale and ignored" in status(app)

            main.select_tensor("blk.0.attn_q.weight")
            await pilot.press("3", "x")
            assert app.screen is main  # no export prompt
            assert ("not exporting the comparison of blk.0.attn_q.weight: it is stale (made with mm int8 → int4)"
                    in status(app))
            assert not list(tmp_path.iterdir())

            # Back to the settings that made it: the result is current again.
            await pilot.press("s")
            app.screen.query_one("#set-mm").value = "int8"
            await pilot.press("ctrl+s")
            assert "· DEGRADED" in screen(app) and "stale" not in plain(main.query_one("#title"))
            assert not plain(main.query_one("#matmul-results")).startswith("STALE")
            await pilot.press("x")
            assert app.screen is not main  # the export prompt
            await pilot.press("escape")
    run(body())


def test_a_matmul_that_finishes_after_a_settings_change_is_stored_stale(tiny_llama_path, monkeypatch):
    import asyncio
    import threading

    import layoutscope.measure.inputs as inputs

    release, reached = threading.Event(), threading.Event()
    real = inputs.load_input

    def slow_input(*args, **kwargs):
        reached.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(inputs, "load_input", slow_input)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            assert await asyncio.to_thread(reached.wait, 30)
            main.apply_settings(main.settings.with_changes(weight_quant="per-tensor"))
            release.set()
            await settle(app, pilot)
            entry = main.verdicts.get("blk.0.attn_q.weight")
            assert entry is not None and not entry.is_current(main.settings.fingerprint)
            assert "stale: made with weights per-channel → per-tensor" in status(app)
            assert "? Q8_0  attn_q" in screen(app)
    run(body())


def test_scan_rows_turn_stale_when_the_settings_change(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("S", "r")
            await settle(app, pilot)
            scan = app.screen
            assert len(main.verdicts) == 29 and not main.verdicts.stale(main.settings.fingerprint)
            await pilot.press("s")
            app.screen.query_one("#set-threshold").value = "1e-3"
            await pilot.press("ctrl+s")
            assert app.screen is scan
            stage = plain(scan.query_one("#scan-stage"))
            assert stage.startswith("stale: these rows were scanned with other settings (threshold 0.0005 → 0.001)")
            assert len(main.verdicts.stale(main.settings.fingerprint)) == 29
            await pilot.press("escape")
            main.select_tensor("blk.0.attn_q.weight")
            await pilot.press("n")
            assert main.current == "blk.0.attn_q.weight" and "29 result(s) made with other settings" in status(app)
    run(body())


# -- 2. the tree filter -------------------------------------------------------------------------


def test_the_filter_is_a_regex_applied_when_typing_pauses(tiny_llama_path, monkeypatch):
    from layoutscope.tui.screens.main import MainScreen

    monkeypatch.setattr(MainScreen, "FILTER_DELAY", 30.0)  # no pause ever ends in this test: enter applies

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            tree = main.query_one(TensorTree)
            await pilot.press("slash")
            for key in "ffn_(up|down)":
                await pilot.press(key)
                assert main.current == "blk.0.attn_q.weight"  # typing never moves the selection
            assert len(tree.visible_names()) == 39  # nor rebuilds the tree on every key
            await pilot.press("enter")
            assert tree.visible_names() == [f"blk.{i}.ffn_{r}.weight" for i in range(4) for r in ("up", "down")]
            assert main.current == "blk.0.ffn_up.weight" and app.focused is tree
            assert "filter 'ffn_(up|down)': 8 of 39 tensors" in status(app)
    run(body())


def test_the_filter_applies_after_a_pause_without_moving_the_selection(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("slash", *"down")
            await pilot.pause(main.FILTER_DELAY * 3)
            await pilot.pause()
            tree = main.query_one(TensorTree)
            assert tree.visible_names() == [f"blk.{i}.ffn_down.weight" for i in range(4)]
            assert main.current == "blk.0.attn_q.weight"  # hidden by the filter, still the one shown
            assert tree.current() is None
    run(body())


@pytest.mark.parametrize("pattern,words", [
    ("ffn_(", "filter 'ffn_(': not a valid regular expression"),
    ("zzz", "filter 'zzz': no tensor matches · esc clears it"),
])
def test_a_bad_or_empty_filter_says_why_and_keeps_the_tree(tiny_llama_path, pattern, words):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("slash", *pattern, "enter")
            assert words in status(app)
            tree = main.query_one(TensorTree)
            assert main.current == "blk.0.attn_q.weight" and app.is_running
            assert app.focused is main.query_one("#filter")  # enter found nothing to go to
            await pilot.press("escape")
            assert main.query_one("#filter").value == "" and app.focused is tree
            assert len(tree.visible_names()) == 39 and tree.current() == "blk.0.attn_q.weight"
    run(body())


def test_a_catastrophic_filter_is_refused_in_one_line(tmp_path):
    path = write_model(tmp_path / "long.gguf", [
        ("token_embd.weight", (64, 16), F32),
        ("blk.0." + "a" * 40 + ".weight", (64, 64), Q8_0),
    ])

    async def body():
        app = LayoutscopeApp(path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("slash", *"(a|aa)+$", "enter")
            line = status(app)
            assert line.startswith("filter '(a|aa)+$': matching took over") and "catastrophic backtracking" in line
            assert len(main.query_one(TensorTree).visible_names()) == 2 and app.is_running
    run(body())


# -- 3. settings ------------------------------------------------------------------------------------


def test_settings_list_every_bad_field_at_once_in_their_own_words(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("s")
            dialog = app.screen
            assert app.focused is dialog.query_one("#set-backend")  # the first field
            for widget, value in (("#set-weight-quant", "per-group:x"), ("#set-input", "tokens:99999999"),
                                  ("#set-rows", "-1"), ("#set-threshold", "abc")):
                dialog.query_one(widget).value = value
            await pilot.press("ctrl+s")
            assert app.screen is dialog
            lines = plain(dialog.query_one("#settings-error")).strip().splitlines()
            assert [line.split()[0] for line in lines] == ["weights", "input", "rows", "threshold"]
            assert lines[3] == "threshold 'abc': expected a number, e.g. 5e-4"
            assert lines[1].startswith("input 'tokens:99999999': token id 99999999 is outside the vocabulary")
            assert all("--" not in line and "-1.0" not in line for line in lines)
            assert app.focused is dialog.query_one("#set-weight-quant")  # the first bad field
            assert main.settings == SIM
    run(body())


@pytest.mark.parametrize("threshold", ["inf", "nan", "0", "-1e-3"])
def test_a_threshold_must_be_finite_and_positive(tiny_llama_path, threshold):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("s")
            app.screen.query_one("#set-threshold").value = threshold
            await pilot.press("ctrl+s")
            error = plain(app.screen.query_one("#settings-error"))
            assert error.startswith(f"threshold '{threshold}': expected a")
    run(body())


def test_the_input_is_checked_against_the_model_when_it_is_entered(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("s")
            dialog = app.screen
            box = dialog.query_one("#set-input")
            box.focus()
            box.value = "tokens:99999999"
            await pilot.press("tab")  # leaving the field checks it, before any save
            error = plain(dialog.query_one("#settings-error"))
            assert error.strip() == ("input 'tokens:99999999': token id 99999999 is outside the vocabulary "
                                     "(ids 0..999, the rows of token_embd.weight)")
            box.value = "tokens:1,2"
            await pilot.pause()
            assert plain(dialog.query_one("#settings-error")).strip() == ""
    run(body())


# -- 4. status lines expire -------------------------------------------------------------------------


def test_a_status_line_expires_and_the_next_result_replaces_it(tiny_llama_path, monkeypatch):
    from layoutscope.tui.screens.main import MainScreen

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            resting = "tiny-llama-q8_0.gguf: 39 tensors, 22 metadata keys"
            await pilot.press("3", "x")
            assert status(app).startswith("no comparison for blk.0.attn_q.weight yet")
            main.expire_status()  # what its timer calls
            assert status(app) == resting
            await pilot.press("g")
            app.screen.query_one("#prompt-input").value = "999,0"
            await pilot.press("enter")
            assert "outside blk.0.attn_q.weight" in status(app)
            await pilot.press("right_square_bracket")
            await pilot.press("m")
            await settle(app, pilot)
            assert status(app).startswith("blk.1.attn_q.weight: OK")  # the next action's result replaced it
    run(body())

    monkeypatch.setattr(MainScreen, "STATUS_SECONDS", 0.05)
    monkeypatch.setattr(MainScreen, "ERROR_SECONDS", 0.05)

    async def timers():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("3", "x")
            await pilot.pause(0.5)
            assert status(app) == "tiny-llama-q8_0.gguf: 39 tensors, 22 metadata keys"
    run(timers())


# -- 5. cancel within a block ------------------------------------------------------------------------


def test_esc_stops_a_matmul_inside_its_prepare(tiny_llama_path, monkeypatch):
    """A cancel during the requantization of W stops at the next block, not at the next stage."""
    import asyncio
    import threading

    import layoutscope.backend.npu_pipeline as pipeline

    monkeypatch.setattr(pipeline, "CHECKED_BLOCK_ELEMENTS", 256 * 16)  # 16 rows of attn_q per block: 16 blocks
    first_block, release = threading.Event(), threading.Event()
    blocks = []
    real = pipeline.dequantize_checked

    def counted(weight, checkpoint=None):
        def check():
            blocks.append(len(blocks))
            if len(blocks) == 1:
                first_block.set()
                release.wait(30)
            checkpoint()
        return real(weight, check)

    monkeypatch.setattr(pipeline, "dequantize_checked", counted)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("m")
            assert await asyncio.to_thread(first_block.wait, 30)
            await pilot.press("escape")
            release.set()
            await settle(app, pilot)
            assert "cancelled" in status(app) and "blk.0.attn_q.weight" not in main.comparisons
            assert len(blocks) == 1  # the block after the cancel never started
    run(body())


# -- 6. layout at 80×24 -------------------------------------------------------------------------------


def test_tab_goes_from_the_tree_to_the_panel_and_the_filter(tiny_llama_path):
    from layoutscope.tui.widgets.layout_panel import LayoutPanel

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            assert app.focused is main.query_one(TensorTree)
            seen = []
            for _ in range(3):
                await pilot.press("tab")
                widget = app.focused
                assert widget.display and widget.region.area > 0 and app.screen.region.contains_region(widget.region)
                seen.append(widget)
            assert seen == [main.query_one(LayoutPanel), main.query_one("#filter"), main.query_one(TensorTree)]
    run(body())


def test_the_tree_opens_with_the_headers_above_the_cursor_in_view(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            lines = screen_text(app.export_screenshot())
            assert lines[1].startswith("▼ not in a layer (3)") and lines[5].startswith("▼ layer 0 (9)")
            assert lines[7].startswith("├ · Q8_0  attn_q") and main.query_one(TensorTree).cursor_line == 6
            # A jump out of view scrolls the target's layer header into view with it, at the top.
            main.select_tensor("blk.1.ffn_up.weight")
            await pilot.pause()
            lines = screen_text(app.export_screenshot())
            assert lines[1].startswith("▼ layer 1 (9)") and lines[9].startswith("├ · Q8_0  ffn_up")
    run(body())


def test_the_scan_table_shows_degraded_whole_with_long_names(tmp_path):
    names = [f"blk.{i}.attn_output_projection_of_the_block.weight" for i in range(3)]
    path = write_model(tmp_path / "long.gguf", [("token_embd.weight", (64, 16), F32)]
                       + [(n, (64, 4096), Q8_0) for n in names])

    async def body():
        app = LayoutscopeApp(path, settings=SIM.with_changes(threshold=1e-9))  # every weight over it: degraded
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(app, pilot)
            await pilot.press("S", "r")
            await settle(app, pilot)
            rows = [line for line in screen_text(app.export_screenshot()) if "64×4096" in line]
            assert len(rows) == 3
            assert all(line.rstrip(" ▁▂▃▄▅▆▇█").endswith("degraded") for line in rows), rows
            assert all("blk." in line and "…" in line for line in rows)  # names cut, not the verdict
    run(body())


def test_npu_unavailable_is_one_line_with_the_reason_under_notes(tiny_llama_path, monkeypatch):
    import layoutscope.backend as backend

    reason = "librknnrt.so not found (not in /usr/lib nor the linker's search path): install it or set a path"
    monkeypatch.setattr(backend, "available_backends", lambda: [
        ("cpu", True, "ready"), ("cpu-numpy", True, "ready"), ("npu-sim", True, "ready"), ("npu", False, reason)])

    async def body():
        app = LayoutscopeApp(tiny_llama_path)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("3")
            lines = [line for line in screen_text(app.export_screenshot()) if "NPU side:" in line]
            assert len(lines) == 1 and lines[0].endswith("NPU side: npu-sim · npu unavailable (see notes)")
            notes = " ".join(plain(main.query_one("#matmul-notes")).split())
            assert f"npu unavailable: {reason}" in notes
    run(body())


# -- 7. control characters and markup in file-borne text ------------------------------------------------

HOSTILE_NAME = "blk.0.attn_q\x1b[31m.weight"
SPLIT_NAME = "blk.0.ffn\nup.weight"
MARKUP_NAMES = ("blk.0.[bold]x.weight", "blk.0.[/x]y.weight")


@pytest.fixture
def hostile_path(tmp_path) -> Path:
    """Tensor names, a key and the architecture with ESC sequences and newlines, and names that look like markup."""
    return write_model(tmp_path / "hostile.gguf", [
        ("token_embd.weight", (64, 16), F32),
        (HOSTILE_NAME, (64, 64), Q8_0),
        (SPLIT_NAME, (64, 64), Q8_0),
        *((n, (64, 32), Q8_0) for n in MARKUP_NAMES),
    ], metadata=(("general.architecture", "lla\x1b]0;owned\x07ma"), ("evil\nkey\x1b[2J", "x\ny")))


def test_file_borne_text_is_escaped_everywhere(hostile_path):
    async def body():
        app = LayoutscopeApp(hostile_path, settings=SIM)
        async with app.run_test(size=(100, 30)) as pilot:
            main = await opened(app, pilot)
            main.select_tensor(HOSTILE_NAME)
            await pilot.pause()
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "\x07" not in svg
            lines = screen_text(svg, 100, 30)
            text = "\n".join(lines)
            assert "blk.0.attn_q\\e[31m.weight Q8_0 64×64 @ 0,0" in text  # the title
            assert "attn_q\\e[31m" in text and "ffn\\nup" in text  # the tree, one line per tensor
            tree_lines = [line for line in lines if line[:1] in "├└▼"]
            assert len(tree_lines) == 2 + 5  # two group headers, five tensors
            assert "[bold]x" in text and "[/x]y" in text  # markup shown literally
            await pilot.press("m")
            await settle(app, pilot)
            assert "blk.0.attn_q\\e[31m.weight: npu-sim vs" in plain(main.query_one("#matmul-results"))
            assert "blk.0.attn_q\\e[31m.weight: OK" in status(app)
            await pilot.press("4")
            text = "\n".join(screen_text(app.export_screenshot(), 100, 30))
            assert "evil\\nkey\\e[2J" in text and "lla\\e]0;owned\\x07ma" in text
            main.select_tensor(MARKUP_NAMES[1])
            await pilot.press("ctrl+p", *"tensor")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = "\n".join(screen_text(app.export_screenshot(), 100, 30))
            assert "tensor: blk.0.[/x]y.weight" in text and "\x1b" not in app.export_screenshot()
            await pilot.press("escape")
            assert app.is_running
    run(body())


def test_the_scan_screen_escapes_names(hostile_path):
    async def body():
        app = LayoutscopeApp(hostile_path, settings=SIM)
        async with app.run_test(size=(100, 30)) as pilot:
            await opened(app, pilot)
            await pilot.press("S", "r")
            await settle(app, pilot)
            svg = app.export_screenshot()
            text = "\n".join(screen_text(svg, 100, 30))
            assert "\x1b" not in svg and "blk.0.attn_q\\e[31m" in text and "blk.0.ffn\\nup" in text
            assert "blk.0.[/x]y" in text, text
            assert app.screen.query_one("#scan-table").row_count == 5  # with token_embd, the tied output head
    run(body())


# -- 8. nothing kills the app, q always quits ------------------------------------------------------------


def test_a_worker_that_raises_is_shown_and_q_still_quits(tiny_llama_path, monkeypatch):
    import layoutscope.backend as backend

    def boom():
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(backend, "available_backends", boom)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            assert "probe failed: RuntimeError: probe exploded" in status(app)
            await pilot.press("right_square_bracket")
            assert main.current == "blk.1.attn_q.weight"
            await pilot.press("q")
        assert app.return_code == 0
    run(body())


def test_a_handler_or_action_that_raises_is_shown_and_the_app_goes_on(tiny_llama_path, monkeypatch):
    from layoutscope.tui.screens.main import MainScreen
    from layoutscope.tui.widgets.matmul_panel import MatmulPanel

    def broken_result(self, *args, **kwargs):
        raise ZeroDivisionError("a bug in the panel")

    def broken_goto(self):
        raise KeyError("a bug in go to")

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            monkeypatch.setattr(MatmulPanel, "show_result", broken_result)
            await pilot.press("m")
            await settle(app, pilot)
            assert "ZeroDivisionError: a bug in the panel (the app keeps running; q quits)" in status(app)
            monkeypatch.setattr(MainScreen, "action_goto", broken_goto)
            await pilot.press("g")
            assert "the goto action failed: KeyError" in status(app)
            monkeypatch.setattr(MainScreen, "action_scan", broken_goto)  # a palette command that raises
            await pilot.press("ctrl+p", *"scan: every")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.press("enter")
            await pilot.pause()
            assert "failed: KeyError: 'a bug in go to'" in status(app) and app.screen is main
            await pilot.press("right_square_bracket")
            assert main.current == "blk.1.attn_q.weight"
            await pilot.press("q")
        assert app.return_code == 0
    run(body())


@pytest.fixture
def zero_dim_path(tmp_path) -> Path:
    """Two weights with data and two with a zero dimension (ne = [64, 0] and [0, 64])."""
    return write_model(tmp_path / "zero.gguf", [
        ("token_embd.weight", (64, 16), F32),
        ("blk.0.attn_q.weight", (64, 64), Q8_0),
        ("blk.0.ffn_up.weight", (64, 0), Q8_0),
        ("blk.0.ffn_down.weight", (0, 64), F32),
        ("blk.0.attn_k.weight", (64, 64), Q8_0),
    ])


@pytest.mark.parametrize("tensor,ne", [("blk.0.ffn_up.weight", "[64, 0]"), ("blk.0.ffn_down.weight", "[0, 64]")])
def test_a_zero_dimension_tensor_is_explained_everywhere(zero_dim_path, tensor, ne):
    reason = f"{tensor} has no data: ne = {ne} has a zero dimension, so it holds no elements"

    async def body():
        app = LayoutscopeApp(zero_dim_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            main.select_tensor(tensor)
            await pilot.pause()
            assert reason in plain(main.query_one("#layout-panel"))
            await pilot.press("2")
            assert f"values are not available: {reason}" in panel(app)
            await pilot.press("m")
            await settle(app, pilot)
            assert status(app).startswith(f"nothing to run: {reason}") and tensor not in main.comparisons
            assert f"no matmul: {reason}" in plain(main.query_one("#matmul-results"))
            await pilot.press("d")
            assert app.screen is main and status(app).startswith("nothing to diagnose")
            await pilot.press("g")
            assert app.screen is main and status(app).startswith("nowhere to go")
            await pilot.press("right_square_bracket", "left_square_bracket")
            assert app.is_running
            await pilot.press("q")
        assert app.return_code == 0
    run(body())


def test_the_scan_skips_zero_dimension_tensors_and_q_still_works(zero_dim_path):
    async def body():
        app = LayoutscopeApp(zero_dim_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            main = await opened(app, pilot)
            await pilot.press("S")
            scan = app.screen
            summary = plain(scan.query_one("#scan-summary"))
            assert "- ne = [64, 0] has a zero dimension, so it holds no elements (1): blk.0.ffn_up.weight" in " ".join(
                summary.split())
            await pilot.press("r")
            await settle(app, pilot)
            assert scan.report is not None and not scan.report.interrupted
            # token_embd.weight is scanned too: without output.weight it is the (tied) output head.
            assert sorted(r.tensor for r in scan.report.rows) == ["blk.0.attn_k.weight", "blk.0.attn_q.weight",
                                                                   "token_embd.weight"]
            await pilot.press("q")
            assert app.screen is main
            await pilot.press("q")
        assert app.return_code == 0
    run(body())
