"""The command line as a user runs it: output, exit codes and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from layoutscope.samples import ALL_TYPES, TINY_LLAMA, path as sample_path


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "layoutscope", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.fixture(scope="module")
def tiny() -> str:
    return str(sample_path(TINY_LLAMA))


@pytest.fixture(scope="module")
def all_types() -> str:
    return str(sample_path(ALL_TYPES))


def assert_one_line_error(result, code: int, *words: str) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_help_and_version_import_neither_numpy_nor_textual():
    code = (
        "import sys\n"
        "from layoutscope.cli.main import main\n"
        "for argv in (['--help'], ['--version'], ['info', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
        "heavy = [m for m in ('numpy', 'textual') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "layoutscope 0." in out


def test_without_a_terminal_bare_command_and_file_print_info():
    # In a terminal these open the TUI (tests/test_tui.py runs that in a pty); scripts and CI get `info`.
    result = subprocess.run([sys.executable, "-m", "layoutscope"], capture_output=True, text=True, check=True)
    assert TINY_LLAMA in result.stdout
    assert "blk.0.ffn_down.weight" in result.stdout
    assert result.stderr.strip() == (
        "layoutscope: stdout is not a terminal, so this is `layoutscope info` instead of the terminal UI")
    other = subprocess.run([sys.executable, "-m", "layoutscope", str(sample_path(ALL_TYPES))],
                           capture_output=True, text=True, check=True)
    assert "q8_0.weight" in other.stdout and "not a terminal" in other.stderr


def test_info_text(tiny):
    result = run("info", tiny)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "GGUF v3, little-endian" in out and "data starts at byte" in out
    assert "llama · layers 4" in out and "vocab 1000" in out
    # Grouped by layer, non-layer tensors first, with the Q8_0 strides.
    assert out.index("not in a layer") < out.index("layer 0") < out.index("layer 3")
    line = next(l for l in out.splitlines() if l.strip().startswith("blk.0.ffn_down.weight"))
    assert "Q8_0" in line and "[704, 256]" in line and "[34, 748]" in line and "8.5" in line


def test_info_metadata_summarises_big_arrays(tiny):
    out = run("info", tiny, "--metadata").stdout
    line = next(l for l in out.splitlines() if "tokenizer.ggml.tokens" in l)
    assert "ARRAY[STRING]" in line and "(1000 items)" in line and "'<unk>'" in line


def test_info_json(tiny):
    data = json.loads(run("info", tiny, "--json", "--metadata").stdout)
    assert data["version"] == 3 and data["byteorder"] == "little"
    names = [t["name"] for t in data["tensors"]]
    assert names[0] == "token_embd.weight" and "output.weight" in names
    down = next(t for t in data["tensors"] if t["name"] == "blk.2.ffn_down.weight")
    assert down["type"] == "Q8_0" and down["ne"] == [704, 256] and down["nb"] == [34, 748] and down["layer"] == 2
    tokens = data["metadata"]["tokenizer.ggml.tokens"]
    assert tokens["type"] == "ARRAY[STRING]" and tokens["value"]["count"] == 1000


def test_info_on_all_types_lists_every_weight_type(all_types):
    out = run("info", all_types).stdout
    for name in ("f32", "f16", "bf16", "q8_0", "q4_k", "iq2_xxs", "q1_0", "q2_0", "mxfp4", "nvfp4", "tq1_0"):
        assert f"{name}.weight" in out


def test_explain_q8_0_arithmetic(tiny):
    out = run("explain", tiny, "blk.0.ffn_down.weight", "--at", "3,100").stdout
    assert "nb0 = 34 B = d (2 B) + qs (32 B)" in out
    assert "nb1 = 34 × 704/32 = 34 × 22 = 748 B" in out
    assert "block 3 of the row, element 4 of the block" in out
    assert "x = d·q" in out and "matches" in out and "DOES NOT MATCH" not in out
    assert "read as plain int8" in out


def test_explain_json(tiny):
    data = json.loads(run("explain", tiny, "output.weight", "--at", "999,255", "--json").stdout)
    assert data["type"] == "Q8_0" and data["nb"] == [34, 272]
    assert data["element"]["matches"] is True
    assert data["element"]["block_in_row"] == 7 and data["element"]["element_in_block"] == 31


def test_dump_grid_and_csv(tmp_path, tiny):
    grid = run("dump", tiny, "output.weight", "--rows", "998:1000", "--cols", "0:4")
    assert grid.returncode == 0
    lines = grid.stdout.splitlines()
    assert lines[0].startswith("output.weight rows 998:1000 cols 0:4") and len(lines) == 4
    target = tmp_path / "out.csv"
    result = run("dump", tiny, "output.weight", "--rows", "998:", "--cols", "0:4", "--csv", str(target))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 2 * 4 and rows[0]["row"] == "998" and rows[-1]["col"] == "3"
    import layoutscope

    with layoutscope.open(tiny) as m:
        expected = m.tensor("output.weight").dequantize(999)[0, 3]
    assert float(rows[-1]["value"]) == pytest.approx(float(expected), rel=1e-6)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    stdout_csv = run("dump", tiny, "output.weight", "--rows", "0", "--cols", "0:2", "--csv", "-").stdout
    assert stdout_csv.splitlines()[0] == "row,col,value" and len(stdout_csv.splitlines()) == 3
    # Without --rows/--cols a CSV export holds the whole tensor.
    whole = run("dump", tiny, "blk.0.attn_k.weight", "--csv", "-").stdout.splitlines()
    assert len(whole) == 1 + 128 * 256 and whole[-1].startswith("127,255,")


def test_missing_file(tmp_path):
    assert_one_line_error(run("info", str(tmp_path / "nope.gguf")), 2, "nope.gguf", "no such file")


def test_not_a_gguf_file(tmp_path):
    p = tmp_path / "model.safetensors"
    p.write_bytes(b'{"__metadata__": {}}' + bytes(64))
    assert_one_line_error(run("info", str(p)), 2, "byte 0", "not a GGUF file", "magic")


def test_truncated_file_names_the_byte(tmp_path, tiny):
    data = open(tiny, "rb").read()
    p = tmp_path / "cut.gguf"
    p.write_bytes(data[: len(data) // 2])
    line = assert_one_line_error(run("info", str(p)), 2, "cut.gguf", "byte ")
    assert "outside the file" in line or "truncated" in line


def test_unknown_tensor_suggests_names(tiny):
    line = assert_one_line_error(run("explain", tiny, "blk.0.ffn_dwn.weight"), 2, "blk.0.ffn_dwn.weight")
    assert "did you mean" in line and "blk.0.ffn_down.weight" in line


def test_bad_option_values(tiny):
    assert_one_line_error(run("explain", tiny, "output.weight", "--at", "x"), 2, "--at")
    assert_one_line_error(run("explain", tiny, "output.weight", "--at", "1000,0"), 2, "row 1000")
    assert_one_line_error(run("dump", tiny, "output.weight", "--rows", "5:2"), 2, "--rows")


def test_unwritable_csv_path(tiny, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.csv"
    assert_one_line_error(run("dump", tiny, "output.weight", "--csv", str(target)), 2, "x.csv")


def test_debug_shows_the_traceback(tmp_path):
    p = tmp_path / "bad.gguf"
    p.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + bytes(32))
    result = run("info", str(p), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr and "obsolete" in result.stderr


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("layoutscope", path=os.path.dirname(sys.executable))
    assert exe, "the layoutscope console script is not installed next to this python"
    result = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("layoutscope ")
