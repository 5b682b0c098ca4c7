"""The run-settings record: one declaration per setting, its choices from the backend's tables, its views."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import fields

import pytest

from layoutscope.backend import NPU_BACKENDS, REFERENCE_BACKENDS, npu_side
from layoutscope.backend.rknpu2.platforms import DEFAULT_PLATFORM, MATMUL_TYPES, PLATFORMS
from layoutscope.measure.metrics import DEFAULT_BANDS
from layoutscope.measure.settings import OptionError, RunSettings

#: Every setting the record must hold (issue 11); issue 12 adds to it, issue 13 the community pipelines' options.
SETTINGS = ("backend", "reference", "platform", "mm", "weight_quant", "act_quant", "input", "rows", "threshold",
            "npu_core", "threads", "pipeline", "w8_calib", "seed", "cores", "int8_weight_scale", "int4_weight_scale",
            "hadamard_blocks", "weight_clip", "activation_clip", "activation_rounding", "clipped_weights",
            "rescale_order", "int4_overflow", "search_cast")


def test_every_run_setting_is_declared_once_with_a_validator_and_help():
    declared = RunSettings.declared()
    assert tuple(s.name for s in declared) == SETTINGS == tuple(f.name for f in fields(RunSettings))
    for s in declared:
        assert s.help and callable(s.parse), s.name
        assert s.flag == "--" + s.name.replace("_", "-")
        assert s.default == getattr(RunSettings(), s.name)
        shown = s.show(s.default)
        assert s.parse(shown, s.flag) == s.default, s.name  # the default passes its own check


def test_choices_come_from_the_backend_tables():
    choices = {s.name: s.choices for s in RunSettings.declared()}
    assert choices["platform"] == tuple(PLATFORMS) and choices["mm"] == tuple(MATMUL_TYPES)
    assert choices["backend"] == ("auto", *NPU_BACKENDS) and choices["reference"] == REFERENCE_BACKENDS
    assert RunSettings().platform == DEFAULT_PLATFORM and RunSettings().backend == "auto"
    assert RunSettings().threshold == DEFAULT_BANDS[0] and RunSettings().bands == DEFAULT_BANDS


@pytest.mark.parametrize("name, text", [("backend", "gpu"), ("platform", "rk9"), ("mm", "int9"),
                                        ("weight_quant", "per-row"), ("npu_core", "3"), ("threads", "0")])
def test_a_setting_refuses_a_bad_value_naming_the_label_it_was_given_as(name, text):
    s = RunSettings.declaration(name)
    for label in (s.flag, s.label or s.name):
        with pytest.raises(OptionError) as caught:
            s.parse(text, label)
        assert str(caught.value).startswith(f"{label} '{text}': ")


def test_notes_name_other_settings_in_each_front_ends_words():
    weights = RunSettings.declaration("weight_quant")
    assert "per-group:G (needs --mm int8-fp32)" in weights.help_text()
    assert weights.listing(cli=False) == "per-channel, per-tensor, per-group:G (needs mm int8-fp32), fixed"
    assert "per-channel (default)" in weights.help_text()
    assert "a comma list sweeps several" in weights.help_text(sweep=True)
    assert "a comma list" not in RunSettings.declaration("act_quant").help_text(sweep=True)  # no sweep declared


def test_from_args_reads_the_parsed_settings_and_keeps_defaults_for_the_rest():
    args = argparse.Namespace(platform="rk3576", mm="fp16", weight_quant="per-tensor", act_quant="per-token",
                              tensor="x", observed="y.npy")
    settings = RunSettings.from_args(args)
    assert settings == RunSettings(platform="rk3576", mm="fp16", weight_quant="per-tensor", act_quant="per-token")
    options = settings.npu_options()
    assert dict(list(options.items())[:4]) == dict(platform="rk3576", mm="fp16", weight_quant="per-tensor",
                                                   act_quant="per-token")
    # Then the pipeline (classic: the four above) and the community backend's options, all at their defaults.
    assert options["pipeline"] == "classic" and options["seed"] == 0 and options["w8_calib"] == "max"


def test_a_scan_is_the_run_settings_plus_a_filter():
    from layoutscope.analyses.scan import ScanOptions

    settings = RunSettings(backend="npu-sim", weight_quant="per-tensor,per-channel", threshold=1e-3, rows=3)
    options = ScanOptions.of(settings, filter="ffn")
    assert isinstance(options, RunSettings) and options.filter == "ffn"
    assert options.weight_quants == ("per-tensor", "per-channel") and options.bands == (1e-3, DEFAULT_BANDS[1])
    assert ScanOptions.of(options).filter is None and ScanOptions.of(options).fingerprint[:-1] == settings.fingerprint
    # The JSON report lists the options as it always has.
    assert list(options.reported()) == ["backend", "reference", "platform", "mm", "weight_quants", "act_quant",
                                        "input", "rows", "threads", "npu_core", "filter", "bands"]


def test_differences_use_the_dialogs_labels_and_each_settings_text():
    old = RunSettings()
    new = old.with_changes(weight_quant="per-tensor", threshold=1e-3, npu_core=2)
    assert old.differences(new) == ["weights per-channel → per-tensor", "threshold 0.0005 → 0.001", "npu_core 0 → 2"]


@pytest.mark.parametrize("requested, available, name, notice", [
    ("auto", True, "npu", ""),
    (None, True, "npu", ""),
    ("auto", False, "npu-sim", "ran npu-sim, the exact emulator, because the NPU is unavailable: no board"),
    ("npu-sim", True, "npu-sim", ""),
    ("npu-sim", False, "npu-sim", ""),
    ("npu", True, "npu", ""),
    ("npu", False, "npu", ""),
])
def test_one_rule_picks_the_npu_side(requested, available, name, notice):
    side = npu_side(requested, [("cpu", True, "ready"), ("npu", available, "ready" if available else "no board")])
    assert (side.name, side.notice) == (name, notice)
    assert side.refusal == ("--backend npu: no board; off the board use --backend npu-sim"
                            if requested == "npu" and not available else "")


def test_the_command_lines_npu_side_follows_the_same_rule(monkeypatch):
    import layoutscope.backend as backend
    from layoutscope.backend import BackendUnavailable, npu_backend

    real = backend.get_backend

    def without_npu(name, **options):
        if name == "npu":
            raise BackendUnavailable("no board")
        return real(name, **options)

    monkeypatch.setattr(backend, "get_backend", without_npu)
    built, notice = npu_backend("auto", platform="rk3576")
    assert built.name == "npu-sim" and notice == npu_side("auto", [("npu", False, "no board")]).notice
    with pytest.raises(BackendUnavailable, match="^--backend npu: no board; off the board use --backend npu-sim$"):
        npu_backend("npu")


def test_the_record_the_dialogs_checks_and_the_backend_names_load_without_numpy():
    # --help lists the settings, and the TUI's first frame needs them: neither may wait for numpy.
    code = ("import sys\n"
            "from layoutscope.measure.settings import RunSettings\n"
            "import layoutscope.backend, layoutscope.measure.session, layoutscope.measure.settings_form\n"
            "RunSettings.declared()\n"
            "print('numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_rknpu2_requantize_stays_the_function_after_its_module_is_imported():
    # Importing the submodule first makes the import system set the package's attribute to the module.
    code = ("from layoutscope.backend.rknpu2.requantize import Scheme as first\n"
            "import layoutscope.backend.rknpu2 as rknpu2\n"
            "from layoutscope.backend.rknpu2 import requantize, Scheme\n"
            "print(callable(requantize), requantize is rknpu2.requantize, Scheme is first)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True True True"
