"""DESIGN.md's public API contract, reached as a script reaches it: a bare ``import layoutscope``, then names.

One fresh process runs every check (a test process has long imported the
subpackages, which would hide a missing lazy attribute) and reports each
check's outcome; each contract line is then its own test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = r'''
import json, sys, traceback

import layoutscope

results = {"bare import loads": sorted(m for m in ("numpy", "textual", "llama_cpp") if m in sys.modules)}
PATH = sys.argv[1]


def check(name):
    def run(fn):
        try:
            fn()
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc(limit=3)
        return fn
    return run


@check("layoutscope.__all__ and dir() list the subpackages")
def _():
    for name in ("gguf", "formats", "layout", "backend", "measure", "analyses", "inference", "report", "compare",
                 "open", "Model", "Tensor", "GGUFError", "__version__"):
        assert name in layoutscope.__all__ and name in dir(layoutscope), name


@check("layoutscope.open(path) -> Model, a context manager")
def _():
    with layoutscope.open(PATH) as model:
        assert isinstance(model, layoutscope.Model) and isinstance(model, layoutscope.gguf.Model)


@check("Model.metadata, .tensors, .tensor(name), .warnings")
def _():
    with layoutscope.open(PATH) as model:
        assert model.metadata["general.architecture"] == "llama"
        assert len(model.metadata["tokenizer.ggml.tokens"][:3]) == 3  # big arrays slice lazily
        assert isinstance(model.tensors, tuple) and all(isinstance(t, layoutscope.Tensor) for t in model.tensors)
        assert model.tensor(model.tensors[0].name) is model.tensors[0]
        try:
            model.tensor("blk.0.attn_k.weigth")
            raise AssertionError("no KeyError")
        except KeyError as exc:
            assert "blk.0.attn_k.weight" in str(exc)  # suggests the close name
        assert isinstance(model.warnings, tuple)


@check("Tensor attributes, raw(rows), dequantize(rows)")
def _():
    with layoutscope.open(PATH) as model:
        t = model.tensor("blk.0.attn_k.weight")
        assert t.type.name == "Q8_0" and len(t.ne) >= 2 and len(t.nb) == len(t.ne)
        assert t.shape == (t.ne[1], t.ne[0]) and t.n_elements == t.ne[0] * t.ne[1] and t.nbytes > 0
        assert t.offset > 0 and t.layer == 0
        raw = t.raw(slice(0, 2))
        assert str(raw.dtype) == "uint8" and raw.shape == (2, t.nbytes // t.ne[1])
        values = t.dequantize(slice(0, 2))
        assert str(values.dtype) == "float32" and values.shape == (2, t.ne[0])


@check("layoutscope.formats.ggml_type(name_or_id) -> GGMLType")
def _():
    q8 = layoutscope.formats.ggml_type("Q8_0")
    assert q8 is layoutscope.formats.ggml_type(8)
    assert (q8.id, q8.name, q8.block_size, q8.type_size, q8.bits_per_weight) == (8, "Q8_0", 32, 34, 8.5)
    assert q8.fields and q8.vec_dot_type == "Q8_0" and q8.is_quantized
    with layoutscope.open(PATH) as model:
        t = model.tensor("blk.0.attn_k.weight")
        assert (q8.dequantize(t.raw(0)) == t.dequantize(0)).all()


@check("layoutscope.layout.explain(tensor, row, col) -> Explanation")
def _():
    with layoutscope.open(PATH) as model:
        e = layoutscope.layout.explain(model.tensor("blk.0.attn_k.weight"), row=1, col=3)
        assert isinstance(e, layoutscope.layout.Explanation) and "Q8_0" in str(e)


@check("layoutscope.backend.get_backend(name) and available_backends()")
def _():
    names = [name for name, _, _ in layoutscope.backend.available_backends()]
    assert names == ["cpu", "cpu-numpy", "npu-sim", "npu", "rk-community"]  # issue 13 registers rk-community
    assert all(isinstance(ok, bool) and isinstance(why, str) for _, ok, why in layoutscope.backend.available_backends())
    assert layoutscope.backend.get_backend("npu-sim", platform="rk3588").name == "npu-sim"


@check("Backend.matmul(weight, x) -> MatmulResult")
def _():
    import numpy as np

    with layoutscope.open(PATH) as model:
        w = model.tensor("blk.0.attn_k.weight")
        x = np.ones((2, w.ne[0]), np.float32)
        result = layoutscope.backend.get_backend("cpu-numpy").matmul(w, x)
        assert result.y.dtype == np.float32 and result.y.shape == (2, w.ne[1]) and isinstance(result.details, dict)


@check("layoutscope.backend.rknpu2.requantize(w, scheme, bits) -> Requantized")
def _():
    import numpy as np

    r = layoutscope.backend.rknpu2.requantize(np.eye(4, 32, dtype=np.float32), "per-channel", bits=8)
    assert r.codes.shape == (4, 32) and r.scale.size == 4 and r.values.shape == (4, 32)


@check("layoutscope.backend.rknpu2.layout: pack_a, pack_b, unpack_c, native_shape")
def _():
    import numpy as np

    layout = layoutscope.backend.rknpu2.layout
    m, k, n = 2, 64, 32
    a = layout.pack_a(np.ones((m, k), np.int8), "rk3588", "int8")
    b = layout.pack_b(np.ones((k, n), np.int8), "rk3588", "int8")
    assert a.shape == layout.native_shape("A", "rk3588", "int8", m, k, n)
    assert b.shape == layout.native_shape("B", "rk3588", "int8", m, k, n)
    c = np.arange(m * n, dtype=np.int32).reshape(m, n)
    assert (layout.unpack_c(layout.pack_c(c, "rk3588", "int32"), "rk3588", "int32", m, n) == c).all()


@check("layoutscope.compare.compare(y, reference) -> Metrics")
def _():
    import numpy as np

    y = np.array([[1.0, 2.0]], np.float32)
    metrics = layoutscope.compare.compare(y, y)
    assert (metrics.nmse, metrics.max_abs, metrics.mean_abs, metrics.verdict) == (0.0, 0.0, 0.0, "ok")
    assert metrics.cosine > 0.999 and metrics.snr_db > 100 and isinstance(metrics.worst, tuple)
    assert hasattr(metrics, "exact_fraction")
    from layoutscope.compare import compare  # the contract's name imports as a module too

    assert compare is layoutscope.compare.compare is layoutscope.measure.metrics.compare


@check("layoutscope.inference is reachable and documented")
def _():
    assert "llama.cpp" in layoutscope.inference.__doc__


print(json.dumps(results))
'''

CONTRACT = [
    "layoutscope.__all__ and dir() list the subpackages",
    "layoutscope.open(path) -> Model, a context manager",
    "Model.metadata, .tensors, .tensor(name), .warnings",
    "Tensor attributes, raw(rows), dequantize(rows)",
    "layoutscope.formats.ggml_type(name_or_id) -> GGMLType",
    "layoutscope.layout.explain(tensor, row, col) -> Explanation",
    "layoutscope.backend.get_backend(name) and available_backends()",
    "Backend.matmul(weight, x) -> MatmulResult",
    "layoutscope.backend.rknpu2.requantize(w, scheme, bits) -> Requantized",
    "layoutscope.backend.rknpu2.layout: pack_a, pack_b, unpack_c, native_shape",
    "layoutscope.compare.compare(y, reference) -> Metrics",
    "layoutscope.inference is reachable and documented",
]


@pytest.fixture(scope="module")
def outcomes(tiny_llama_path) -> dict:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_llama_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_bare_import_loads_neither_numpy_nor_textual(outcomes):
    assert outcomes["bare import loads"] == []


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_name(outcomes, name):
    assert outcomes[name] == "ok", outcomes[name]
