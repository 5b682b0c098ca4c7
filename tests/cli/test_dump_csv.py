"""``dump --csv`` streams: the same bytes as the old per-value writer, a progress bar only on stderr."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import numpy as np

import layoutscope
from layoutscope.cli.commands import dump as dump_command
from layoutscope.report.numbers import shortest_text
from layoutscope.samples import TINY_LLAMA, path as sample_path
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder
from float_cases import SPECIAL


def old_dump_csv(values: np.ndarray, rows: range, cols: range) -> str:
    """The CSV as ``dump --csv`` wrote it before streaming: csv.writer and ``shortest_text`` per value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("row", "col", "value"))
    for i, r in enumerate(rows):
        writer.writerows((r, c, shortest_text(values[i, j])) for j, c in enumerate(cols))
    return out.getvalue()


def dump(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "layoutscope", "dump", *args, "--csv", "-"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def test_dump_csv_bytes_match_the_old_writer_on_the_sample():
    model = str(sample_path(TINY_LLAMA))
    with layoutscope.open(model) as m:
        whole = m.tensor("blk.0.attn_k.weight").dequantize()
        window = m.tensor("output.weight").dequantize(slice(990, 1000))[:, 100:200]
    assert dump(model, "blk.0.attn_k.weight") == old_dump_csv(whole, range(whole.shape[0]), range(whole.shape[1]))
    assert dump(model, "output.weight", "--rows", "990:", "--cols", "100:200") == old_dump_csv(
        window, range(990, 1000), range(100, 200))


def test_dump_csv_bytes_match_on_special_values_across_blocks(tmp_path):
    # 3 rows of 40,000 values: two streamed blocks, with every special value in each row.
    rng = np.random.default_rng(4)
    values = (rng.standard_normal((3, 40_000)) * 0.05).astype(np.float32)
    values[:, : SPECIAL.size] = SPECIAL
    path = tmp_path / "special.gguf"
    GGUFBuilder().add("general.architecture", STRING, "llama").add_tensor(
        "special.weight", (40_000, 3), 0, values.tobytes()).write(path)
    assert dump(str(path), "special.weight") == old_dump_csv(values, range(3), range(40_000))


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_goes_to_stderr_only_on_a_terminal(monkeypatch):
    err, out = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    with dump_command._progress(10) as advance:
        advance(4)
        advance(6)
    assert "dumping rows" in err.getvalue() and "10/10" in err.getvalue() and out.getvalue() == ""
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    with dump_command._progress(10) as advance:
        advance(10)
    assert plain.getvalue() == ""
