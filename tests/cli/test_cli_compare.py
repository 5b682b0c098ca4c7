"""``layoutscope compare`` as a user runs it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from layoutscope.samples import TINY_LLAMA, path

TINY = str(path(TINY_LLAMA))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layoutscope", "compare", *args],
                          capture_output=True, text=True, timeout=300)


def test_text_report_says_which_backend_ran():
    r = run(TINY, "blk.0.ffn_up.weight", "--input", "random:3", "--rows", "4")
    assert r.returncode == 0, r.stderr
    assert "npu-sim vs cpu" in r.stdout and "ran npu-sim" in r.stdout
    assert "RKNN_INT8_MM_INT8_TO_INT32 (2)" in r.stdout and "NMSE" in r.stdout and "verdict OK" in r.stdout
    assert "weight alone: NMSE" in r.stdout and "worst elements" in r.stdout
    assert "random normal, seed 3, 4×256" in r.stdout


def test_json_report():
    r = run(TINY, "output.weight", "--input", "tokens:1,2,300", "--json", "--platform", "rk3566")
    data = json.loads(r.stdout)
    assert data["backend"] == "npu-sim" and data["reference"] == "cpu" and data["shape"] == [3, 1000]
    assert data["metrics"]["verdict"] in ("ok", "degraded", "broken")
    assert data["details"]["backend"]["platform"] == "rk3566"
    assert data["details"]["backend"]["N_padded"] == 1008  # rk3566 int8 N aligns to 16
    assert data["weight_requantization_error"]["nmse"] > 0


def test_csv_has_one_row_per_output_element(tmp_path):
    target = tmp_path / "cmp.csv"
    r = run(TINY, "blk.1.attn_k.weight", "--rows", "3", "--csv", str(target), "--json")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 3 * 128
    assert rows[0]["tensor"] == "blk.1.attn_k.weight" and rows[0]["mm"] == "int8"
    data = json.loads(r.stdout)
    worst = data["metrics"]["worst"][0]
    row = next(x for x in rows if int(x["m"]) == worst["m"] and int(x["n"]) == worst["n"])
    assert float(row["abs_err"]) == pytest.approx(worst["abs_err"], rel=1e-6)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_fail_on_exit_codes():
    bad = run(TINY, "blk.3.ffn_down.weight", "--weight-quant", "per-tensor", "--fail-on", "broken")
    assert bad.returncode == 3
    # Random rows: the real ones (the default input now) have outliers that make even per-group:32 degraded.
    good = run(TINY, "blk.3.ffn_down.weight", "--mm", "int8-fp32", "--weight-quant", "per-group:32", "--fail-on", "degraded",
               "--input", "random")
    assert good.returncode == 0, good.stdout


def test_npy_input(tmp_path):
    x = np.random.default_rng(0).standard_normal((5, 256)).astype(np.float32)
    good = tmp_path / "x.npy"
    np.save(good, x)
    r = run(TINY, "blk.0.attn_q.weight", "--input", str(good), "--json")
    assert json.loads(r.stdout)["shape"] == [5, 256]
    wrong_dtype = tmp_path / "x64.npy"
    np.save(wrong_dtype, x.astype(np.float64))
    r = run(TINY, "blk.0.attn_q.weight", "--input", str(wrong_dtype))
    assert r.returncode == 2 and "float32" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    wrong_shape = tmp_path / "xs.npy"
    np.save(wrong_shape, x[:, :100])
    r = run(TINY, "blk.0.attn_q.weight", "--input", str(wrong_shape))
    assert r.returncode == 2 and "(M, 256)" in r.stderr


@pytest.mark.parametrize("args,code,words", [
    (["output_norm.weight"], 2, "not a 2-D weight"),
    (["output.weight", "--weight-quant", "per-row"], 2, "--weight-quant 'per-row': use per-channel"),
    (["output.weight", "--mm", "int5"], 2, "--mm 'int5': choose from int8"),
    (["output.weight", "--platform", "rk3566", "--mm", "int4"], 2, "does not support"),
    (["blk.0.ffn_down.weight", "--input", "tokens:1"], 2, "K = 704"),
    (["output.weight", "--input", "tokens:5000"], 2, "outside the vocabulary (ids 0..999)"),
    (["output.weight", "--backend", "npu"], 1, "npu-sim"),
])
def test_bad_input_and_unavailable_hardware(args, code, words):
    r = run(TINY, *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and words in line
