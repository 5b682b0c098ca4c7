"""The Offload screen driven by Pilot on the tiny sample in llama.cpp: sweeps, sensitivity, plan, toggles, export."""

from __future__ import annotations

import csv
import json
import threading

import pytest
from tui_support import plain, run, screen_text, settle

import layoutscope
from layoutscope.measure.settings import RunSettings
from layoutscope.tui.app import LayoutscopeApp
from layoutscope.tui.widgets.tensor_tree import TensorTree, pipeline_tag

#: The emulator, seed 0: the figures must not depend on whether this machine has an NPU.
SETTINGS = RunSettings(backend="npu-sim", seed=0)
PIPELINES = ("W16A16_STANDARD", "W16A16_HADAMARD", "W8A8_STANDARD", "W8A8_HADAMARD", "W4A4_STANDARD",
             "W4A4_HADAMARD")


def screen(app) -> str:
    return "\n".join(screen_text(app.export_screenshot()))


def stage(offload) -> str:
    return " ".join(plain(offload.query_one("#offload-stage"), width=400).split())


def result_line(offload) -> str:
    return " ".join(plain(offload.query_one("#offload-result"), width=400).split())


def table_rows(offload) -> list[list[str]]:
    table = offload.query_one("#offload-table")
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def open_offload(app, pilot):
    """The app on the tiny sample with the Offload screen open and its session loaded."""
    from layoutscope.tui.screens.offload import OffloadScreen

    await settle(app, pilot)
    await pilot.press("O")
    await settle(app, pilot)
    offload = app.screen
    assert isinstance(offload, OffloadScreen)
    return offload


async def press(app, pilot, *keys):
    await pilot.press(*keys)
    await settle(app, pilot)


def test_pipeline_tags_read_without_colour():
    assert [pipeline_tag(p) for p in PIPELINES] == ["W16S", "W16H", "W8S", "W8H", "W4S", "W4H"]
    assert pipeline_tag(None) == pipeline_tag("CPU") == "CPU"


def test_o_opens_the_screen_with_the_layers_and_the_unconfirmed_note(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            text = screen(app)
            assert "Offload tiny-llama-q8_0.gguf · 4 layers, 29 weights" in text
            assert "UNCONFIRMED on hardware" in text and "INT4 overflow" in text and "FP16" in text
            assert "int8 wrap" in text
            assert [r[:2] for r in table_rows(offload)] == [["blk.0", "CPU"], ["blk.1", "CPU"], ["blk.2", "CPU"],
                                                            ["blk.3", "CPU"], ["output", "CPU"]]
            assert "no assignment yet" in result_line(offload)
            # Nothing is tagged in the tree before there is an assignment.
            assert app.main_screen.query_one(TensorTree).tag_of("blk.0.attn_q.weight") is None
            await press(app, pilot, "question_mark")
            assert "Offload: the first-k sweep" in screen(app)
            await press(app, pilot, "escape")
            assert app.screen is offload
            await press(app, pilot, "escape")
            assert app.screen is app.main_screen
    run(body())


def test_the_palette_opens_the_offload_screen(tiny_llama_path):
    from layoutscope.tui.screens.offload import OffloadScreen

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("ctrl+p", *"offload: which")
            await pilot.pause()
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, OffloadScreen)
    run(body())


def test_sweeps_and_sensitivity_fill_the_plots_and_the_table(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "f")
            rows = offload.first_k
            assert [r["k"] for r in rows] == [0, 1, 2, 3, 4]
            assert rows[0]["kld_mean"] == 0 and rows[0]["top1_agreement"] == 1.0
            assert all(r["kld_mean"] > 0 for r in rows[1:]) and rows[0]["pipeline"] == "W8A8_STANDARD"
            text = screen(app)
            assert "KLD mean vs k" in text and "top-1 agreement vs k" in text
            assert "0  1  2  3  4  k" in text  # the x axis, labelled with every k
            plot = offload.query_one("#offload-plot").plain
            k0 = next(line for line in plot.splitlines() if line.split()[:2] == ["0", "0"])
            assert k0.split()[2:5] == ["0", "0", "100.0%"]  # k=0: nothing offloaded, KLD 0
            assert f"{rows[4]['kld_mean']:.1e}" in plot

            await press(app, pilot, "p")
            text = screen(app)
            for name in PIPELINES:
                assert name in text
            assert [r["pipeline"] for r in offload.pipelines] == list(PIPELINES)

            await press(app, pilot, "l")
            table = table_rows(offload)
            assert [r[0] for r in table] == ["blk.0", "blk.1", "blk.2", "blk.3", "output"]
            assert all(cell not in ("·", "") for r in table for cell in r[2:])  # every layer × pipeline measured
            text = screen(app)
            assert "W4A4_STANDARD (┴ 0.01)" in text
            bars = [line for line in offload.query_one("#offload-plot").plain.splitlines() if "│█" in line]
            assert {line.split()[0] for line in bars} >= {"blk.0", "blk.1", "blk.2", "blk.3", "output"}
            # blk.0 on W4A4_STANDARD is over the budget: marked with "!" (readable without colour).
            assert table[0][2].endswith("!")
    run(body())


def test_the_plan_assigns_pipelines_and_the_tree_shows_them(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "a")
            result = offload.plan_result
            assert result.answered and offload.assignment == result.assignment and result.assignment
            line = result_line(offload)
            assert "weights on the NPU" in line and "KLD mean" in line and "ΔPPL" in line
            assert "plan:" in stage(offload) and "(verified)" in stage(offload)
            shown = {r[0]: r[1] for r in table_rows(offload)}
            assert shown["blk.0"] == pipeline_tag(result.assignment["blk.0.attn_q.weight"])
            tree = app.main_screen.query_one(TensorTree)
            for name, pipeline in result.assignment.items():
                assert tree.tag_of(name) == pipeline_tag(pipeline)
            await press(app, pilot, "escape")
            assert app.screen is app.main_screen
            app.main_screen.jump_to("blk.1.attn_q.weight")
            await settle(app, pilot)
            tag = pipeline_tag(result.assignment["blk.1.attn_q.weight"])
            assert any(f"Q8_0  {tag}" in line and "attn_q" in line for line in screen(app).splitlines())
    run(body())


def test_a_toggle_and_r_measure_the_new_assignment(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "r")  # nothing on the NPU: the candidate is the reference
            assert "KLD mean 0 · p99 0 · top-1 100.0% · ΔPPL +0.000" in result_line(offload)
            await press(app, pilot, "t")  # blk.0: CPU → W4A4_STANDARD
            assert table_rows(offload)[0][:2] == ["blk.0", "W4S"]
            assert "not measured: r evaluates it" in result_line(offload)
            assert app.main_screen.query_one(TensorTree).tag_of("blk.0.ffn_up.weight") == "W4S"
            await press(app, pilot, "r")
            line = result_line(offload)
            assert "7 of 29 weights on the NPU (W4S 7)" in line and "KLD mean 0 " not in line
            assessed, quality = offload.measured
            assert assessed == {n: "W4A4_STANDARD" for n in assessed} and len(assessed) == 7
            assert quality.kld_mean > 0 and f"KLD mean {quality.kld_mean:.1e}" in line
            # T moves one weight: w shows the weights, the cursor goes to blk.0's second one.
            await press(app, pilot, "w")
            table = offload.query_one("#offload-table")
            table.move_cursor(row=2)
            await press(app, pilot, "T")
            weight = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value).removeprefix("w:")
            assert offload.assignment[weight] == "W4A4_HADAMARD"
            assert table_rows(offload)[0][:2] == ["blk.0", "mix"]
    run(body())


def hold_sweeps(monkeypatch) -> threading.Event:
    """Make every sweep (an evaluation of several candidates) wait until the session is cancelled.

    Returns the event set when a sweep has started waiting.
    """
    from layoutscope.planning.session import OffloadSession

    real = OffloadSession.evaluate
    started = threading.Event()

    def evaluate(self, candidates, progress=lambda step, done, total: None):
        if len(candidates) > 1:
            started.set()
            self._cancelled.wait(timeout=30)
        return real(self, candidates, progress)

    monkeypatch.setattr(OffloadSession, "evaluate", evaluate)
    return started


def test_escape_cancels_a_running_job_and_the_screen_stays_usable(tiny_llama_path, monkeypatch):
    started = hold_sweeps(monkeypatch)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await pilot.press("f")
            while not started.is_set():
                await pilot.pause(0.05)
            assert offload.busy
            await pilot.press("escape")
            assert app.screen is offload  # esc cancels first; it does not leave
            await settle(app, pilot)
            assert "first-k cancelled" in stage(offload) and offload.first_k is None
            # The next job resumes the session and runs.
            await press(app, pilot, "r")
            assert "KLD mean 0 · p99 0" in result_line(offload)
            assert app.is_running
    run(body())


def test_a_failing_job_is_one_line_and_the_app_keeps_running(tiny_llama_path, monkeypatch):
    from layoutscope.tui.screens import offload_workers

    def broken(session, progress, pipeline):
        raise RuntimeError("the sweep broke\nsecond line")

    monkeypatch.setattr(offload_workers, "first_k_job", broken)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "f")
            line = stage(offload)
            assert line.startswith("first-k failed:") and "the sweep broke" in line and "second line" not in line
            assert "first-k failed" in plain(app.main_screen.query_one("#status"), width=400)
            await press(app, pilot, "r")
            assert "KLD mean 0" in result_line(offload) and app.is_running
    run(body())


def test_x_writes_a_plan_that_read_plan_accepts_and_the_sweeps(tiny_llama_path, tmp_path):
    from layoutscope.planning.plan_file import read_plan

    prefix = tmp_path / "tiny"

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "f")
            await press(app, pilot, "p")
            await press(app, pilot, "t", "r")
            await pilot.press("x")
            app.screen.query_one("#prompt-input").value = str(prefix)
            await press(app, pilot, "enter")
            line = stage(offload)
            assert line.startswith("wrote tiny.plan.json, tiny.sweeps.json, tiny.first-k.csv, tiny.pipelines.csv")
            assert str(tmp_path) in line
            return offload.assignment, offload.measured[1]

    assignment, quality = run(body())
    with layoutscope.open(tiny_llama_path) as model:
        plan = read_plan(str(prefix) + ".plan.json", model)
    assert plan.assignment == assignment and len(assignment) == 7
    assert plan.measured["kld"]["mean"] == pytest.approx(quality.kld_mean) and plan.budget == 0.01
    with open(str(prefix) + ".first-k.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["k"]) for r in rows] == [0, 1, 2, 3, 4] and float(rows[0]["kld_mean"]) == 0.0
    with open(str(prefix) + ".pipelines.csv", newline="") as stream:
        assert [r["pipeline"] for r in csv.DictReader(stream)] == list(PIPELINES)
    sweeps = json.loads((tmp_path / "tiny.sweeps.json").read_text())
    assert len(sweeps["first_k"]) == 5 and len(sweeps["pipelines"]) == 6 and sweeps["sensitivity"] is None
    assert sweeps["assignment"] == assignment
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_onto_the_model_is_refused(tiny_llama_path, tmp_path):
    import shutil

    model = tmp_path / "m.gguf"
    shutil.copyfile(tiny_llama_path, model)
    before = model.read_bytes()

    async def body():
        app = LayoutscopeApp(str(model), settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "t")
            await pilot.press("x")
            # m.plan.json links to the model: refused before anything is written.
            (tmp_path / "m.plan.json").symlink_to(model)
            app.screen.query_one("#prompt-input").value = str(tmp_path / "m")
            await press(app, pilot, "enter")
            assert "refused, it is the input model" in stage(offload) and app.is_running
    run(body())
    assert model.read_bytes() == before and (tmp_path / "m.plan.json").is_symlink()


def test_enter_goes_to_the_layer_s_first_weight_in_the_main_screen(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            offload.query_one("#offload-table").move_cursor(row=2)  # blk.2
            await press(app, pilot, "enter")
            assert app.screen is app.main_screen and app.main_screen.current == "blk.2.attn_q.weight"
            await press(app, pilot, "O", "w")
            table = offload.query_one("#offload-table")
            table.move_cursor(row=table.get_row_index("w:blk.1.ffn_down.weight"))
            await press(app, pilot, "enter")
            assert app.main_screen.current == "blk.1.ffn_down.weight"
            assert app.main_screen.query_one(TensorTree).current() == "blk.1.ffn_down.weight"
    run(body())


def test_quitting_during_a_job_cancels_it_and_frees_the_session(tiny_llama_path, monkeypatch):
    from layoutscope.planning.session import OffloadSession

    started = hold_sweeps(monkeypatch)  # the sensitivity below evaluates every layer in one batch
    closed = []
    real_close = OffloadSession.close

    def close(self):
        closed.append(self._engine is not None)
        real_close(self)

    monkeypatch.setattr(OffloadSession, "close", close)

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await pilot.press("l")
            while not started.is_set():
                await pilot.pause(0.05)
            await pilot.press("ctrl+q")
        return offload

    offload = run(body())
    assert offload.session is None and closed == [True]


def test_a_settings_change_says_the_figures_are_from_the_earlier_settings(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "escape")
            app.main_screen.apply_settings(SETTINGS.with_changes(seed=7))
            await press(app, pilot, "O")
            assert "the settings changed" in stage(offload)
            await press(app, pilot, "r")
            assert offload.session.settings.seed == 7 and "KLD mean 0" in result_line(offload)
    run(body())


def test_b_sets_the_budget_the_marks_and_the_plan_use_and_refuses_a_bad_one(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            offload = await open_offload(app, pilot)
            await press(app, pilot, "l")
            assert table_rows(offload)[0][2].endswith("!")  # blk.0 on W4A4_STANDARD: over 0.01
            await press(app, pilot, "b")
            app.screen.query_one("Input").value = "0"
            await press(app, pilot, "enter")
            # The CLI's words for plan --kld-budget 0.
            assert offload.budget == 0.01 and stage(offload) == "budget '0': expected a finite number above 0, e.g. 0.01"
            await press(app, pilot, "b")
            app.screen.query_one("Input").value = "10"
            await press(app, pilot, "enter")
            assert offload.budget == 10 and "KLD budget 10" in stage(offload)
            assert not any(cell.endswith("!") for row in table_rows(offload) for cell in row[2:])
            await press(app, pilot, "a")
            assert "within KLD 10 (verified)" in stage(offload)
            assert len(offload.assignment) == 29  # everything fits such a budget
    run(body())
