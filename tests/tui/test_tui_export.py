"""The TUI's `x` export: a refused path is a status line, the model is never written, the app keeps running."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
from tui_support import plain, run, settle

from layoutscope.tui.app import LayoutscopeApp


def status(app) -> str:
    """The status line, unwrapped."""
    return " ".join(plain(app.main_screen.query_one("#status"), width=400).split())


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def model(tiny_llama_path, tmp_path):
    """A copy of the sample (a refusal that failed must not damage the bundled file)."""
    path = tmp_path / "model.gguf"
    shutil.copyfile(tiny_llama_path, path)
    (tmp_path / "link.csv").symlink_to("model.gguf")
    os.link(path, tmp_path / "hard.csv")
    return path


async def export_to(app, pilot, path: str) -> str:
    await pilot.press("x")
    app.screen.query_one("#prompt-input").value = path
    await pilot.press("enter")
    await settle(app, pilot)
    return status(app)


def test_export_onto_the_model_is_refused_and_the_app_keeps_running(model, tmp_path):
    before = digest(model)

    async def body():
        app = LayoutscopeApp(str(model))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            main = app.main_screen
            await pilot.press("m")
            await settle(app, pilot)
            for target, words in ((str(model), ()), (str(tmp_path / "link.csv"), ("through a symlink",)),
                                  (str(tmp_path / "hard.csv"), ("hard link",))):
                line = await export_to(app, pilot, target)
                assert line.startswith("export path '") and "refused, it is the input model" in line, line
                assert all(w in line for w in words), line
            line = await export_to(app, pilot, "-")
            assert "stdout is not available here" in line
            await pilot.press("2")
            line = await export_to(app, pilot, str(model))
            assert "refused, it is the input model" in line
            assert app.is_running and main.current == "blk.0.attn_q.weight"
    run(body())
    assert digest(model) == before and (tmp_path / "link.csv").is_symlink()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
