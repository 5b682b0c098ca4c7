"""One weight compared: each side's Y is its backend's own, the metrics are compare()'s, the weight-alone
error is the scheme's requantization error, and findings name what is not finite."""

from __future__ import annotations

import json

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import get_backend
from layoutscope.backend.rknpu2 import requantize
from layoutscope.gguf import EmptyTensorError
from layoutscope.measure.comparison import run_comparison
from layoutscope.measure.metrics import compare, error_summary
from layoutscope.samples import TINY_LLAMA, path as sample_path
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder


@pytest.fixture(scope="module")
def tiny():
    with layoutscope.open(sample_path(TINY_LLAMA)) as model:
        yield model


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32)


def test_each_side_is_its_backend_bit_for_bit(tiny, x):
    weight = tiny.tensor("blk.0.ffn_up.weight")
    npu, cpu = get_backend("npu-sim", weight_quant="per-tensor"), get_backend("cpu")
    c = run_comparison(weight, x, npu, cpu, "random, 4 rows")
    assert np.array_equal(c.y, npu.matmul(weight, x).y) and np.array_equal(c.y_reference, cpu.matmul(weight, x).y)
    assert c.metrics == compare(c.y, c.y_reference, names=("npu-sim Y", "cpu Y"))
    assert (c.tensor, c.backend, c.reference, c.input) == ("blk.0.ffn_up.weight", "npu-sim", "cpu", "random, 4 rows")
    assert c.details["backend"]["weight_quant"] == "per-tensor" and c.findings == []


def test_the_weight_alone_error_is_the_schemes_own(tiny, x):
    weight = tiny.tensor("blk.1.attn_q.weight")
    c = run_comparison(weight, x, get_backend("npu-sim"), get_backend("cpu"))
    w = weight.dequantize()
    direct = error_summary(requantize(w, "per-channel").values, w)
    assert (c.weight_error.nmse, c.weight_error.max_abs) == (direct.nmse, direct.max_abs)
    assert 0 < c.weight_error.nmse < c.metrics.nmse * 10  # the same order as the matmul's error


def test_the_null_comparison_is_exact(tiny, x):
    # The reference against itself: no error, no weight-alone error (a CPU backend does not requantize).
    weight = tiny.tensor("blk.0.attn_k.weight")
    c = run_comparison(weight, x, get_backend("cpu"), get_backend("cpu"))
    assert c.metrics.nmse == 0.0 and c.metrics.verdict == "ok" and c.weight_error is None


def test_to_dict_is_strict_json(tiny, x):
    c = run_comparison(tiny.tensor("output.weight"), x, get_backend("npu-sim"), get_backend("cpu"))
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert data["shape"] == [4, 1000] and data["metrics"]["verdict"] == c.metrics.verdict
    assert data["weight_requantization_error"]["verdict"] in ("ok", "degraded", "broken")
    assert data["input_nonfinite"] is None and data["findings"] == []


def test_a_nan_in_x_is_a_finding(tiny, x):
    # Both sides turn the NaN into a number (ggml's Q8_0 conversion of X, the NPU side's requantization codes
    # NaN as 0), differently: the Ys stay finite, disagree in that row, and the finding says why.
    bad = x.copy()
    bad[2, 7] = np.nan
    c = run_comparison(tiny.tensor("blk.0.ffn_gate.weight"), bad, get_backend("npu-sim"), get_backend("cpu"),
                       "bad.npy")
    assert c.input_nonfinite is not None and c.input_nonfinite.count == 1
    assert any("X (bad.npy)" in f for f in c.findings)
    assert c.metrics.excluded == 0 and np.isfinite(c.metrics.nmse)
    assert {w.m for w in c.metrics.worst} == {2}


def test_a_tensor_without_elements_is_refused(tmp_path, x):
    path = tmp_path / "zero.gguf"
    GGUFBuilder().add("general.architecture", STRING, "llama").add_tensor("blk.0.w.weight", (256, 0), 8, b"").write(path)
    with layoutscope.open(path) as model:
        with pytest.raises(EmptyTensorError, match="zero dimension"):
            run_comparison(model.tensor("blk.0.w.weight"), x, get_backend("npu-sim"), get_backend("cpu"))
