"""The settings dialog is made from the run-settings record, and refuses a bad value in the command line's words."""

from __future__ import annotations

import pytest
from tui_support import plain, run, settle

from textual.widgets import Input, Label, OptionList, Select

import layoutscope
from layoutscope.measure.settings import RunSettings
from layoutscope.measure.settings_form import check_fields
from layoutscope.tui.app import LayoutscopeApp

SIM = RunSettings(backend="npu-sim")
#: A value each setting refuses, by the same rule on the command line and in the dialog.
BAD = {"backend": "gpu", "reference": "gpu", "platform": "rk9", "mm": "int9", "weight_quant": "per-group:0",
       "act_quant": "fixed:1e39", "input": "tokens:1,,2", "rows": "0", "threshold": "abc",
       # issue 13: the community pipelines and their options
       "pipeline": "W9A9_STANDARD", "w8_calib": "kl", "seed": "-1", "int8_weight_scale": "per-row",
       "int4_weight_scale": "kl", "hadamard_blocks": "none", "weight_clip": "1.5", "activation_clip": "0",
       "activation_rounding": "down", "clipped_weights": "drop", "rescale_order": "fma", "int4_overflow": "trap",
       "search_cast": "none"}
LABELLED = [s for s in RunSettings.declared() if s.label]


@pytest.fixture(scope="module")
def tiny(tiny_llama_path):
    with layoutscope.open(tiny_llama_path) as model:
        yield model


def _cli_error(path, flag: str, value: str) -> str:
    """The command line's one error line for ``flag value``, without its prefix and its "(see ...)"."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "layoutscope", "compare", str(path), "output.weight", flag, value],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.startswith("layoutscope: error: ") and line.endswith(" (see layoutscope compare --help)"), line
    return line[len("layoutscope: error: "):-len(" (see layoutscope compare --help)")]


def test_the_dialog_has_one_row_per_labelled_setting_made_from_its_declaration(tiny_llama_path):
    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM.with_changes(threshold=1e-3, rows=4))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("s")
            dialog = app.screen
            labels = [str(label.content) for label in dialog.query(".settings-label").results(Label)]
            assert labels == [s.label for s in LABELLED]
            for s in LABELLED:
                widget = dialog.query_one(f"#set-{s.flag[2:]}")
                value = getattr(dialog.settings, s.name)
                if s.choices:
                    assert isinstance(widget, Select) and widget.value == value
                    widget.focus()
                    await pilot.press("enter")  # open it: the list the user chooses from
                    overlay = widget.query_one(OptionList)
                    offered = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
                    await pilot.press("escape")
                    assert app.screen is dialog and not widget.expanded
                    # The real NPU is offered only when it is available (it is not here).
                    choices = [c for c in s.choices if c != "npu"] if s.name == "backend" else s.choices
                    assert offered == [s.choice_text(c) for c in choices]
                else:
                    assert isinstance(widget, Input) and widget.value == s.show(value)
                    assert widget.placeholder == s.placeholder
            hint = plain(dialog.query_one("#settings-hint"))
            assert all(s.listing(cli=False) in " ".join(hint.split()) for s in LABELLED if s.forms)
    run(body())


@pytest.mark.parametrize("setting", LABELLED, ids=[s.name for s in LABELLED])
def test_a_bad_value_is_refused_with_the_same_words_as_on_the_command_line(tiny_llama_path, tiny, setting):
    value = BAD[setting.name]
    cli = _cli_error(tiny_llama_path, setting.flag, value)
    settings, errors = check_fields({setting.label: value}, SIM, tiny)
    assert settings is None and list(errors) == [setting.label]
    assert cli.startswith(f"{setting.flag} '{value}': ")
    assert errors[setting.label] == setting.label + cli[len(setting.flag):]


def test_the_dialog_shows_those_words_for_every_text_field_at_once(tiny_llama_path, tiny):
    texts = [s for s in LABELLED if not s.choices]

    async def body():
        app = LayoutscopeApp(tiny_llama_path, settings=SIM)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("s")
            dialog = app.screen
            for s in texts:
                dialog.query_one(f"#set-{s.flag[2:]}", Input).value = BAD[s.name]
            await pilot.press("ctrl+s")
            assert app.screen is dialog
            return plain(dialog.query_one("#settings-error")).strip().splitlines()

    lines = run(body())
    expected = [check_fields({s.label: BAD[s.name]}, SIM, tiny)[1][s.label] for s in texts]
    assert lines == expected
