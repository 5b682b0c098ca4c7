"""``diff``: tensors in one file only, type and shape changes, value differences worst first."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import layoutscope
from layoutscope.measure.metrics import compare
from layoutscope.analyses.diff import diff_models
from layoutscope.report.csv_tables import DIFF_COLUMNS
from layoutscope.formats import ggml_type
from layoutscope.samples import TINY_LLAMA, path
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

TINY = str(path(TINY_LLAMA))


@pytest.fixture(scope="module")
def edited(tmp_path_factory, ggml):
    """The tiny sample with one weight requantized to Q4_0, one nudged, one dropped, one added, one reshaped."""
    q4_0 = ggml_type("Q4_0").id
    b = GGUFBuilder().add("general.architecture", STRING, "llama")
    with layoutscope.open(TINY) as model:
        for t in model.tensors:
            raw = np.array(t.raw(), copy=True)
            ne, type_id = t.ne, t.type.id
            if t.name == "blk.3.ffn_down.weight":
                continue
            if t.name == "blk.0.ffn_up.weight":
                raw, type_id = ggml.quantize(q4_0, t.dequantize()), q4_0
            if t.name == "blk.1.attn_q.weight":
                raw[5, 2 + 7] ^= 0x10  # one int8 code of one Q8_0 block changes by 16
            if t.name == "output_norm.weight":
                raw, ne = raw.reshape(-1)[: 128 * 4], (128,)
            b.add_tensor(t.name, ne, type_id, raw.tobytes())
    b.add_tensor("extra.weight", (32, 2), 0, np.ones((2, 32), np.float32).tobytes())
    out = tmp_path_factory.mktemp("diff") / "edited.gguf"
    b.write(out)
    return str(out)


def test_the_report_finds_every_kind_of_change(edited):
    with layoutscope.open(TINY) as a, layoutscope.open(edited) as b:
        report = diff_models(a, b)
        by_name = {r.tensor: r for r in report.rows}
        assert report.only_a == ["blk.3.ffn_down.weight"] and report.only_b == ["extra.weight"]
        assert by_name["output_norm.weight"].status == "reshaped" and by_name["output_norm.weight"].nmse is None
        q4 = by_name["blk.0.ffn_up.weight"]
        assert q4.status == "retyped" and (q4.type_a, q4.type_b) == ("Q8_0", "Q4_0")
        w = "blk.0.ffn_up.weight"
        assert q4.nmse == pytest.approx(compare(b.tensor(w).dequantize(), a.tensor(w).dequantize()).nmse, rel=1e-5)
        nudged = by_name["blk.1.attn_q.weight"]
        assert nudged.status == "changed" and 0 < nudged.nmse < q4.nmse
        assert nudged.max_abs == pytest.approx(16 * float(a.tensor("blk.1.attn_q.weight").raw()[5, :2].view(np.float16)[0]))
        assert by_name["blk.2.ffn_up.weight"].status == "identical" and by_name["blk.2.ffn_up.weight"].nmse == 0
        ranked = report.ranked()
        assert ranked[0].tensor == "output_norm.weight" and ranked[1].tensor == w and ranked[-1].status == "identical"


def test_cli_text_json_and_csv(edited, tmp_path):
    cmd = [sys.executable, "-m", "layoutscope", "diff", TINY, edited]
    r = subprocess.run([*cmd, "--csv", str(tmp_path / "d.csv")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "only in A (1):\n      blk.3.ffn_down.weight\n" in r.stdout
    assert "only in B (1):\n      extra.weight\n" in r.stdout
    assert "blk.0.ffn_up.weight: Q8_0 [256, 704] → Q4_0 [256, 704]" in r.stdout
    with open(tmp_path / "d.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == DIFF_COLUMNS and len(rows) == 38 + 1 + 1
    assert {r["status"] for r in rows} == {"reshaped", "retyped", "changed", "identical", "only_in_a", "only_in_b"}
    data = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=300).stdout)
    assert data["only_in_a"] == ["blk.3.ffn_down.weight"] and data["tensors"][1]["status"] == "retyped"
    same = subprocess.run([*cmd[:-1], TINY, "--filter", "blk.0"], capture_output=True, text=True, timeout=300)
    assert "every common tensor is byte-identical" in same.stdout and "9 tensors in both" in same.stdout
