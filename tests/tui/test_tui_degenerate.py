"""The TUI on degenerate and non-finite weights: the reason on screen, nothing dies, q still quits."""

from __future__ import annotations

import numpy as np
import pytest
from tui_support import plain, run, screen_text, settle

from layoutscope.measure.settings import RunSettings
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder
from layoutscope.tui.app import LayoutscopeApp

SIM = RunSettings(backend="npu-sim")


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory):
    w = np.random.default_rng(2).standard_normal((32, 64)).astype(np.float32)
    bad = w.copy()
    bad[3, 5] = np.nan
    path = tmp_path_factory.mktemp("tui-odd") / "odd.gguf"
    (GGUFBuilder().add("general.architecture", STRING, "llama")
     .add_tensor("blk.0.ffn_up.weight", (64, 32), 0, w.tobytes())
     .add_tensor("blk.0.ffn_gate.weight", (64, 0), 0, b"")
     .add_tensor("blk.0.attn_q.weight", (0, 32), 8, b"")
     .add_tensor("blk.0.ffn_down.weight", (64, 32), 0, bad.tobytes())
     .write(path))
    return path


def screen(app) -> str:
    return "\n".join(screen_text(app.export_screenshot(), 100, 30))


def right_panel(app) -> str:
    """The text right of the tree (after its ``▕`` border), its lines joined with spaces."""
    return " ".join(" ".join(line.split("▕", 1)[1].split()) for line in screen_text(app.export_screenshot(), 100, 30)
                    if "▕" in line)


def test_an_empty_tensor_shows_its_reason_and_refuses_the_matmul(odd_model):
    async def body():
        app = LayoutscopeApp(odd_model, settings=SIM)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            main = app.main_screen
            await pilot.press("S")
            await settle(app, pilot)
            await pilot.press("r")
            await settle(app, pilot)
            text = screen(app)
            assert "done: 2 of 2" in text and "2 other tensors skipped" in text
            await pilot.press("escape")
            await settle(app, pilot)
            for name, ne in (("blk.0.ffn_gate.weight", "[64, 0]"), ("blk.0.attn_q.weight", "[0, 32]")):
                main.select_tensor(name)
                await pilot.press("1")
                await settle(app, pilot)
                layout = plain(main.query_one("#layout-panel"))
                assert f"{name} has no data: ne = {ne} has a zero dimension, so it holds no elements" in " ".join(
                    layout.split())
                await pilot.press("2")
                await settle(app, pilot)
                assert f"values are not available: {name} has no data: ne = {ne} has a zero dimension" in right_panel(app)
                await pilot.press("3", "m")
                await settle(app, pilot)
                assert app.is_running
                assert f"nothing to run: {name} has no data: ne = {ne}" in screen(app).replace("\n", " ")
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running, (app.focused, app.screen)  # q still quits
        assert app.return_code in (None, 0)
    run(body())


def test_a_nan_weight_is_broken_with_its_finding_in_the_matmul_panel(odd_model):
    async def body():
        app = LayoutscopeApp(odd_model, settings=SIM)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            main = app.main_screen
            main.select_tensor("blk.0.ffn_down.weight")
            await pilot.press("3", "m")
            await settle(app, pilot)
            panel = plain(main.query_one("#matmul-results"), width=400)
            assert "verdict BROKEN" in panel
            assert ("FINDING: W blk.0.ffn_down.weight dequantized: 1 of 2048 values are not finite (1 NaN), "
                    "the first at n 3, k 5") in panel
            assert main.verdicts.get("blk.0.ffn_down.weight").verdict == "broken"
            main.select_tensor("blk.0.ffn_up.weight")
            await pilot.press("n")
            assert main.current == "blk.0.ffn_down.weight"  # n walks to it: worse than the threshold
    run(body())


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("mm", ["int8", "int4", "fp16"])
@pytest.mark.parametrize("scheme", ["per-channel", "per-tensor", "per-group:32"])
def test_the_values_side_by_side_of_a_nan_weight_warns_nothing(odd_model, tmp_path, mm, scheme):
    import layoutscope
    from layoutscope.layout.sidebyside import SideBySide, tensor_amax
    from layoutscope.report.csv_tables import write_side_by_side_csv

    with layoutscope.open(odd_model) as m:
        t = m.tensor("blk.0.ffn_down.weight")
        assert tensor_amax(t) == pytest.approx(float(np.abs(np.nan_to_num(t.dequantize(), nan=0)).max()))
        sbs = SideBySide(t, scheme, mm)
        if sbs.needs_amax:
            sbs.amax = tensor_amax(t)
        window = sbs.window(3)
        assert np.isnan(window.dequantized[3 - window.start, 5])
        assert write_side_by_side_csv(str(tmp_path / "sbs.csv"), sbs) == 32 * 64


def test_a_matmul_with_infinities_on_both_sides_shows_its_histogram_without_warnings(odd_model, tmp_path):
    x = np.random.default_rng(4).standard_normal((8, 64)).astype(np.float32)
    x[2, 9] = np.inf
    np.save(tmp_path / "x_inf.npy", x)
    settings = RunSettings(backend="npu-sim", mm="fp16", input=str(tmp_path / "x_inf.npy"))

    async def body():
        import warnings

        app = LayoutscopeApp(odd_model, settings=settings)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with app.run_test(size=(100, 30)) as pilot:
                await settle(app, pilot)
                main = app.main_screen
                main.select_tensor("blk.0.ffn_up.weight")
                await pilot.press("3", "m")
                await settle(app, pilot)
                assert "nan/inf" in plain(main.query_one("#matmul-histogram"))
                assert "same non-finite value on both sides" in plain(main.query_one("#matmul-results"), width=400)
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    run(body())
