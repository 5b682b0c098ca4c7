"""The run settings on the command line: every one is an option of the commands that run matmuls, made from
its declaration (default and choices in ``--help``), read back with one call, and used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layoutscope.cli.parser import build_parser
from layoutscope.measure.settings import RunSettings


def _help(command: str, monkeypatch, capsys) -> str:
    from layoutscope.cli.main import main

    monkeypatch.setenv("COLUMNS", "400")  # one line per option: a choice is never cut at its hyphen
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _option_line(text: str, flag: str) -> str:
    """The option's entry in --help as one line (argparse puts a long option's help on the next line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(flag + " ") or line.strip() == flag)
    entry = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("   ") or line.strip().startswith("-"):
            break
        entry.append(line)
    return " ".join(part.strip() for part in entry)


@pytest.mark.parametrize("command, groups", [("compare", ()), ("scan", ()), ("diagnose", ("pipeline",))])
def test_every_setting_is_an_option_with_its_default_and_choices_in_help(command, groups, monkeypatch, capsys):
    text = _help(command, monkeypatch, capsys)
    for s in RunSettings.declared(*groups):
        line = _option_line(text, s.flag)
        default = s.show(s.default)
        assert f"{default} (default" in line or f"(default {default})" in line, line
        for choice in s.choices:
            assert str(choice) in line, (choice, line)
        if s.choices:
            assert line.split()[1] == "{" + ",".join(map(str, s.choices)) + "}", line
        for form in s.forms:
            assert form in line, (form, line)
    if groups:  # diagnose runs the pipeline on a given X: no reference, no made-up input, no NPU core
        others = [s.flag for s in RunSettings.declared() if s.group not in groups and s.name != "input"]
        assert not any(line.strip().split()[:1] == [flag] for flag in others for line in text.splitlines())
        assert _option_line(text, "--input").startswith("--input X.npy")


def test_the_parsed_defaults_are_the_records():
    parser = build_parser()
    for argv in (["compare", "m.gguf", "w"], ["scan", "m.gguf"]):
        assert RunSettings.from_args(parser.parse_args(argv)) == RunSettings()


def test_values_are_read_back_in_one_call_in_canonical_spelling():
    from layoutscope.analyses.scan import ScanOptions

    args = build_parser().parse_args(["scan", "m.gguf", "--platform", "RK3576", "--weight-quant",
                                      "Per-Tensor, per-channel", "--threshold", "1e-3", "--npu-core", "1",
                                      "--backend", "npu-sim", "--filter", "ffn"])
    options = ScanOptions.from_args(args)
    assert options == ScanOptions(platform="rk3576", weight_quant="per-tensor,per-channel", threshold=1e-3,
                                  npu_core=1, backend="npu-sim", filter="ffn")


def test_scan_alone_takes_a_list_of_weight_schemes(tiny_llama_path):
    result = subprocess.run([sys.executable, "-m", "layoutscope", "compare", str(tiny_llama_path), "output.weight",
                             "--weight-quant", "per-tensor,per-channel"], capture_output=True, text=True)
    assert result.returncode == 2 and "--weight-quant 'per-tensor,per-channel': use per-channel" in result.stderr


def _compare_json(path, *extra) -> dict:
    result = subprocess.run([sys.executable, "-m", "layoutscope", "compare", str(path), "blk.0.attn_q.weight",
                             "--backend", "npu-sim", "--reference", "cpu-numpy", "--json", *extra],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_threshold_is_the_ok_bound_of_the_verdict(tiny_llama_path):
    default = _compare_json(tiny_llama_path)
    strict = _compare_json(tiny_llama_path, "--threshold", "1e-12")
    assert default["metrics"]["nmse"] == strict["metrics"]["nmse"] > 1e-12
    assert (default["metrics"]["verdict"], strict["metrics"]["verdict"]) == ("ok", "degraded")


def test_auto_is_the_default_backend_and_may_be_asked_for(tiny_llama_path):
    runs = [subprocess.run([sys.executable, "-m", "layoutscope", "compare", str(tiny_llama_path), "output.weight",
                            *extra, "--reference", "cpu-numpy"], capture_output=True, text=True, check=True).stdout
            for extra in ((), ("--backend", "auto"))]
    assert runs[0] == runs[1] and "ran npu-sim" in runs[0]  # no NPU on the test machine: the emulator, said so
