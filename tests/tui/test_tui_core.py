"""The TUI's pure helpers: side-by-side windows, the verdict store, the text histogram."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import layoutscope
from layoutscope.backend.rknpu2 import requantize
from layoutscope.report.histogram import bar, error_histogram
from layoutscope.layout.sidebyside import ExportCancelled, SideBySide, tensor_amax
from layoutscope.report.csv_tables import SIDE_BY_SIDE_COLUMNS, write_side_by_side_csv
from layoutscope.measure.verdicts import VerdictStore


@pytest.fixture(scope="module")
def tiny(tiny_llama_path):
    with layoutscope.open(tiny_llama_path) as model:
        yield model


@pytest.mark.parametrize("scheme,mm", [
    ("per-channel", "int8"), ("per-group:32", "int8-fp32"), ("fixed", "int8"),
    ("per-channel", "int4"), ("per-channel", "fp16"), ("per-tensor", "int8"), ("per-tensor", "int4"),
])
def test_windows_agree_with_requantizing_the_whole_weight(tiny, scheme, mm):
    w = tiny.tensor("blk.1.ffn_down.weight")
    full_values = w.dequantize()
    bits = {"int8": 8, "int8-fp32": 8, "int4": 4, "fp16": 16}[mm]
    whole = requantize(full_values, scheme, bits)
    amax = tensor_amax(w, rows_per_chunk=50) if scheme == "per-tensor" else None
    sbs = SideBySide(w, scheme, mm, amax=amax)
    for row in (0, 17, 255):
        win = sbs.window(row)
        i = row - win.start
        assert np.array_equal(win.dequantized[i], full_values[row])
        assert np.array_equal(win.codes[i], whole.codes[row])
        assert np.array_equal(win.npu[i], whole.values[row])
        assert win.abs_err[i, 5] == pytest.approx(abs(float(whole.values[row, 5]) - float(full_values[row, 5])))
        if scheme == "per-group:32":
            assert win.row_scale(row, 100) == whole.scale[row, 3]
        elif scheme == "per-channel" and bits != 16:
            assert win.row_scale(row) == whole.scale[row, 0]


def test_per_tensor_waits_for_the_amax(tiny):
    sbs = SideBySide(tiny.tensor("output.weight"), "per-tensor", "int8")
    assert sbs.needs_amax
    with pytest.raises(RuntimeError, match="largest"):
        sbs.window(0)


def test_mismatch_uses_the_nmse_yardstick(tiny):
    win = SideBySide(tiny.tensor("blk.0.ffn_up.weight"), "per-channel", "int4").window(0)
    strict, loose = win.mismatch(1e-6), win.mismatch(1.0)
    assert strict.any() and not loose.any()


def test_unknown_type_is_unavailable(tmp_path):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[2] / "samples"))
    from ggufwrite import STRING, GGUFBuilder

    p = tmp_path / "fork.gguf"
    GGUFBuilder().add("general.architecture", STRING, "llama").add_tensor("blk.0.x.weight", (64, 2), 77, bytes(96)).write(p)
    with layoutscope.open(p) as model:
        sbs = SideBySide(model.tensor("blk.0.x.weight"))
        assert not sbs.available and "77" in sbs.reason
        with pytest.raises(NotImplementedError):
            sbs.window(0)


def test_side_by_side_csv(tiny, tmp_path):
    w = tiny.tensor("blk.0.attn_k.weight")
    target = tmp_path / "w.csv"
    seen = []
    n = write_side_by_side_csv(str(target), SideBySide(w), progress=lambda done, total: seen.append(done), chunk_rows=50)
    rows = list(csv.reader(target.open()))
    assert tuple(rows[0]) == SIDE_BY_SIDE_COLUMNS
    assert n == len(rows) - 1 == 128 * 256 and seen[-1] == 128
    whole = requantize(w.dequantize(), "per-channel", 8)
    row, col = 77, 200
    line = rows[1 + row * 256 + col]
    assert line[:2] == [str(row), str(col)]
    assert float(line[2]) == float(w.dequantize(row)[0, col])
    assert int(line[3]) == int(whole.codes[row, col]) and float(line[4]) == float(whole.values[row, col])


def test_cancelled_export_leaves_no_file(tiny, tmp_path):
    target = tmp_path / "w.csv"
    with pytest.raises(ExportCancelled):
        write_side_by_side_csv(str(target), SideBySide(tiny.tensor("output.weight")), cancelled=lambda: True)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_verdict_store_walks_to_worse_tensors():
    store = VerdictStore()
    order = ["a", "b", "c", "d"]
    store.record("b", 2e-2)
    store.record("c", 1e-5)
    store.record("d", 1e-3)
    assert store.get("b").verdict == "broken" and store.get("c").verdict == "ok" and store.get("d").verdict == "degraded"
    assert store.next_worse(order, "a", 5e-4) == "b"
    assert store.next_worse(order, "b", 5e-4) == "d"
    assert store.next_worse(order, "d", 5e-4) == "b"  # wraps
    assert store.next_worse(order, "b", 5e-4, step=-1) == "d"
    assert store.next_worse(order, "a", 1e-1) is None
    assert store.next_worse(order, "b", 1e-2) == "b"  # the only one, after a lap
    store.record("e", float("nan"))
    assert store.is_worse("e", 1.0) and store.counts() == {"ok": 1, "degraded": 1, "broken": 2}


def test_histogram_lines():
    lines = error_histogram([0, 0, 1e-6, 2e-6, 1e-3, float("nan")], bins=3, width=10)
    assert lines[0].strip().startswith("exact (0) │██████████") and lines[0].endswith(" 2")
    assert lines[-1].strip().startswith("nan/inf │") and lines[-1].endswith(" 1")
    assert len(lines) == 5 and "1.0e-06 .. " in lines[1]
    assert bar(10, 10, 4) == "████" and bar(1, 16, 4) == "▎" and bar(0, 5, 4) == ""
    assert error_histogram([]) == ["(no elements)"]


def test_hex_blocks_tag_scales_codes_and_the_element(tiny):
    from layoutscope.layout.hexview import blocks_around, hex_text
    from layoutscope.layout.blocks import explain

    w = tiny.tensor("blk.0.ffn_down.weight")
    e = explain(w, 3, 100)
    blocks = blocks_around(w, 3, 100, e.element.quant_file_bytes, max_bytes=112)
    assert [b.is_cursor_block for b in blocks] == [False, True, False]
    here = [c for line in blocks[1].lines for c in line]
    assert blocks[1].heading == "block 3 @ byte 894378 (cols 96..127)"
    assert [c.kind for c in here[:3]] == ["scale", "scale", "quant"] and here[0].field == "d"
    assert [c.offset for c in here if c.cursor] == [894384]
    assert here[0].value == 0x20 and here[1].value == 0x0E  # d = 20 0e, as explain shows
    assert hex_text(blocks[1].lines[0]).startswith("    894378  20 0e")


def test_hex_runs_for_plain_types(all_types_path):
    from layoutscope.layout.hexview import blocks_around

    with layoutscope.open(all_types_path) as model:
        t = model.tensor("f32.weight")
        blocks = blocks_around(t, 1, 5, max_bytes=48)
        assert [b.heading for b in blocks] == ["cols 0..3 @ byte 3936", "cols 4..7 @ byte 3952", "cols 8..11 @ byte 3968"]
        marked = [c.offset for b in blocks for line in b.lines for c in line if c.cursor]
        assert marked == [3956, 3957, 3958, 3959] and all(c.kind == "value" for c in blocks[0].lines[0])


def test_the_core_helpers_do_not_import_textual():
    import subprocess
    import sys

    code = ("import sys\n"
            "import layoutscope.layout.npu_location, layoutscope.layout.sidebyside, layoutscope.measure.verdicts, layoutscope.report.histogram\n"
            "import layoutscope.layout.hexview, layoutscope.measure.session, layoutscope.measure.settings_form\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_matmul_and_a_scan_judge_with_the_same_threshold(tiny_llama_path):
    """With a non-default threshold, ``m`` and the Scan screen give one tensor the same verdict."""
    import layoutscope
    from layoutscope.analyses.scan import ScanOptions, Scanner
    from layoutscope.backend import NpuSide
    from layoutscope.measure.session import run_matmul
    from layoutscope.measure.settings import RunSettings

    settings = RunSettings(backend="npu-sim", threshold=1e-4)
    assert settings.bands == (1e-4, 1e-2) == ScanOptions.of(settings).bands
    with layoutscope.open(tiny_llama_path) as model:
        comparison, _ = run_matmul(model, "blk.0.attn_q.weight", settings, NpuSide("npu-sim", "test", False))
        options = ScanOptions.of(settings)
        row = next(r for r in Scanner(model, options).run().rows if r.tensor == "blk.0.attn_q.weight")
    assert comparison.bands == options.bands
    assert comparison.metrics.verdict == row.verdict == "degraded"  # NMSE ~1.4e-4: over 1e-4, under 1e-2


def test_verdicts_made_under_other_settings_are_stale_and_never_worse():
    from layoutscope.measure.settings import RunSettings

    int8, int4 = RunSettings(), RunSettings(mm="int4")
    store = VerdictStore()
    store.record("a", 2e-2, settings=int8.fingerprint)
    store.record("b", 3e-2, settings=int4.fingerprint)
    order = ["a", "b", "c"]
    assert store.next_worse(order, "c", 5e-4, fingerprint=int4.fingerprint) == "b"
    assert store.next_worse(order, "b", 5e-4, fingerprint=int4.fingerprint) == "b"  # the only current one
    assert store.next_worse(order, "c", 5e-4, fingerprint=RunSettings(rows=9).fingerprint) is None
    assert store.stale(int4.fingerprint) == ["a"] and store.stale(int8.fingerprint) == ["b"]
    assert not store.is_worse("a", 5e-4, int4.fingerprint) and store.is_worse("a", 5e-4)  # no fingerprint: any


def test_settings_say_what_changed_in_the_dialogs_words():
    from layoutscope.measure.settings import RunSettings

    old = RunSettings()
    new = old.with_changes(mm="int4", weight_quant="per-tensor", threshold=1e-3, input="tokens:\x1b[1m")
    assert old.differences(new) == ["mm int8 → int4", "weights per-channel → per-tensor",
                                    "input auto → tokens:\\e[1m", "threshold 0.0005 → 0.001"]
    assert old.differences(old) == [] and old.fingerprint != new.fingerprint
    assert old.fingerprint == RunSettings().fingerprint


def test_command_line_flags_become_field_names():
    from layoutscope.measure.session import in_field_words

    assert in_field_words("--input 'x.npy': shape is (4, 3); use --rows 2 or --weight-quant per-tensor") == \
        "input 'x.npy': shape is (4, 3); use rows 2 or weights per-tensor"
    assert in_field_words("per-group weights need --mm int8-fp32") == "per-group weights need mm int8-fp32"
    assert in_field_words("--input-file stays, so does --mmx") == "--input-file stays, so does --mmx"


def test_the_npu_side_fits_one_line_at_80_columns():
    from layoutscope.backend import npu_side

    long_reason = "librknnrt.so not found (not in /usr/lib nor the linker's search path): " + "x" * 200
    for requested, available in (("auto", False), ("npu", False), ("auto", True), ("npu-sim", False)):
        side = npu_side(requested, [("npu", available, "ready" if available else long_reason)])
        assert len("NPU side: " + side.summary) <= 48, side.summary
        assert long_reason not in side.summary
    assert npu_side("auto", [("npu", False, long_reason)]).summary == "npu-sim · npu unavailable (see notes)"


def test_every_bad_settings_field_is_reported_at_once(tiny):
    from layoutscope.measure.settings import RunSettings
    from layoutscope.measure.settings_form import check_fields

    base = RunSettings()
    settings, errors = check_fields({"weights": "per-group:0", "activations": "fixed:1e39", "input": "tokens:1,,2",
                                     "rows": "99999", "threshold": "inf"}, base, tiny)
    assert settings is None
    assert list(errors) == ["weights", "activations", "input", "rows", "threshold"]
    assert all(message.startswith(f"{field} '") for field, message in errors.items())
    assert all("--" not in message for message in errors.values())
    assert errors["threshold"] == "threshold 'inf': expected a finite number above 0, e.g. 5e-4"
    assert errors["rows"] == "rows '99999': out of range: use a whole number from 1 to 4096, e.g. 8"
    settings, errors = check_fields({"mm": "int8-fp32", "weights": "per-group:32", "input": "tokens:1,999",
                                     "rows": "4", "threshold": "1e-3"}, base, tiny)
    assert errors == {} and settings == base.with_changes(mm="int8-fp32", weight_quant="per-group:32",
                                                          input="tokens:1,999", rows=4, threshold=1e-3)


@pytest.mark.parametrize("values,field,words", [
    ({"input": "tokens:1000"}, "input", "token id 1000 is outside the vocabulary (ids 0..999"),
    ({"weights": "per-group:32"}, "weights", "per-group scales need mm int8-fp32"),
    ({"platform": "rk3566", "mm": "int4"}, "mm", "rk3566 has no such matmul; it has int8, fp16"),
    ({"input": "missing.npy"}, "input", "no such .npy file"),
])
def test_settings_that_do_not_fit_the_model_or_each_other(tiny, values, field, words):
    from layoutscope.measure.settings import RunSettings
    from layoutscope.measure.settings_form import check_fields

    settings, errors = check_fields(values, RunSettings(), tiny)
    assert settings is None and list(errors) == [field] and words in errors[field]


@pytest.mark.parametrize("array,words", [
    (np.zeros((2, 3), np.float64), "dtype is float64, expected float32"),
    (np.zeros(5, np.float32), "shape is (5,), expected float32 rows (M, K)"),
    (np.zeros((0, 256), np.float32), "shape is (0, 256)"),
])
def test_an_npy_input_is_checked_when_entered(tmp_path, array, words):
    from layoutscope.measure.settings import OptionError
    from layoutscope.measure.settings_form import check_input

    path = tmp_path / "x.npy"
    np.save(path, array)
    with pytest.raises(OptionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_input(str(path))
    good = tmp_path / "good.npy"
    np.save(good, np.ones((2, 256), np.float32))
    assert check_input(str(good)) == str(good)


def test_a_tensor_without_elements_says_why(tmp_path):
    from layoutscope.measure.session import no_data_reason
    from layoutscope.samples.ggufwrite import GGUFBuilder

    path = tmp_path / "zero.gguf"
    GGUFBuilder().add("general.architecture", 8, "llama").add_tensor("blk.0.x\n.weight", (64, 0), 8, b"").write(path)
    with layoutscope.open(path) as model:
        reason = no_data_reason(model.tensor("blk.0.x\n.weight"))
    assert reason == "blk.0.x\\n.weight has no data: ne = [64, 0] has a zero dimension, so it holds no elements"
