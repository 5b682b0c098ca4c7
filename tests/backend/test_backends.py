"""Backends: cpu is ggml itself, cpu-numpy matches it, npu-sim follows the NPU pipeline."""

from __future__ import annotations

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import available_backends, get_backend
from layoutscope.backend.rknpu2 import requantize
from layoutscope.measure.metrics import compare
from layoutscope.samples import ALL_TYPES, TINY_LLAMA, path

X512 = np.random.default_rng(11).standard_normal((6, 512)).astype(np.float32)


@pytest.fixture(scope="module")
def all_types_model():
    with layoutscope.open(path(ALL_TYPES)) as m:
        yield m


@pytest.fixture(scope="module")
def tiny():
    with layoutscope.open(path(TINY_LLAMA)) as m:
        yield m


def matmul_weights(model):
    return [t for t in model.tensors if t.type.vec_dot_type is not None]


def test_cpu_is_a_direct_libggml_mul_mat_and_thread_independent(all_types_model, ggml):
    for t in matmul_weights(all_types_model):
        direct = ggml.mul_mat(t.type.id, t.raw(), t.ne[0], X512, threads=1)
        one = get_backend("cpu", threads=1).matmul(t, X512).y
        two = get_backend("cpu", threads=2).matmul(t, X512).y
        assert np.array_equal(one.view(np.uint32), direct.view(np.uint32)), t.name
        assert np.array_equal(two.view(np.uint32), direct.view(np.uint32)), t.name


def test_cpu_numpy_matches_ggml_for_every_weight_type(all_types_model):
    cpu, twin = get_backend("cpu"), get_backend("cpu-numpy")
    seen = set()
    for t in matmul_weights(all_types_model):
        nmse = compare(twin.matmul(t, X512).y, cpu.matmul(t, X512).y).nmse
        assert nmse < 1e-9, f"{t.type.name}: NMSE {nmse:.2e}"
        seen.add(t.type.vec_dot_type)
    assert seen == {"F32", "F16", "BF16", "Q8_0", "Q8_1", "Q8_K"}


def test_npu_sim_int8_is_the_exact_integer_pipeline(tiny):
    t = tiny.tensor("blk.1.ffn_up.weight")
    x = tiny.tensor("token_embd.weight").dequantize(slice(0, 9))
    result = get_backend("npu-sim", mm="int8", weight_quant="per-channel", act_quant="per-token").matmul(t, x)
    rw = requantize(t.dequantize(), "per-channel")
    rx = requantize(x, "per-token")
    exact = (rx.codes.astype(np.int64) @ rw.codes.T.astype(np.int64)).astype(np.float64)
    expected = (exact * rx.scale.astype(np.float64) * rw.scale.astype(np.float64).reshape(1, -1)).astype(np.float32)
    assert np.array_equal(result.y, expected)
    d = result.details
    assert d["platform"] == "rk3588" and d["rknn_matmul_type"].startswith("RKNN_INT8_MM_INT8_TO_INT32")
    assert d["native_shapes"]["B"] == (22, 8, 32, 32) and d["N_padded"] == 704
    assert any("per-token" in note and "CPU" in note for note in d["notes"])


def test_npu_sim_close_to_cpu_with_a_good_scheme(tiny):
    t = tiny.tensor("output.weight")  # N = 1000: padded to 1024 on the NPU
    x = tiny.tensor("token_embd.weight").dequantize(slice(100, 116))
    ref = get_backend("cpu").matmul(t, x).y
    good = compare(get_backend("npu-sim", weight_quant="per-channel").matmul(t, x).y, ref)
    crushed = compare(get_backend("npu-sim", weight_quant="fixed", act_quant="fixed:0.05").matmul(t, x).y, ref)
    assert good.verdict == "ok" and crushed.nmse > 100 * good.nmse


def test_the_planted_outlier_breaks_per_tensor_but_not_per_group(tiny):
    t = tiny.tensor("blk.3.ffn_down.weight")
    x = np.random.default_rng(5).standard_normal((8, t.ne[0])).astype(np.float32)
    ref = get_backend("cpu").matmul(t, x).y
    per_tensor = compare(get_backend("npu-sim", weight_quant="per-tensor").matmul(t, x).y, ref)
    per_group = compare(get_backend("npu-sim", mm="int8-fp32", weight_quant="per-group:32").matmul(t, x).y, ref)
    assert per_tensor.verdict == "broken" and per_group.verdict == "ok"


@pytest.mark.parametrize("mm", ["int8", "int8-fp32", "fp16", "fp16-fp16", "int8-int8", "int4"])
def test_every_rk3588_matmul_type_runs(tiny, mm):
    t = tiny.tensor("blk.0.attn_q.weight")
    x = tiny.tensor("token_embd.weight").dequantize(slice(0, 4))
    r = get_backend("npu-sim", mm=mm).matmul(t, x)
    assert r.y.shape == (4, 256) and r.y.dtype == np.float32 and np.isfinite(r.y).all()
    assert r.details["mm"] == mm


def test_bad_requests_are_clear(tiny, all_types_model):
    cpu = get_backend("cpu")
    with pytest.raises(ValueError, match="2-D"):
        cpu.matmul(tiny.tensor("output_norm.weight"), X512[:, :256])
    with pytest.raises(ValueError, match=r"\(M, 256\)"):
        cpu.matmul(tiny.tensor("output.weight"), X512)
    with pytest.raises(ValueError, match="no CPU matmul"):
        cpu.matmul(all_types_model.tensor("i8.weight"), X512)
    with pytest.raises(ValueError, match="per-group weights need --mm int8-fp32"):
        get_backend("npu-sim", weight_quant="per-group:32")
    with pytest.raises(ValueError, match="rk3566 does not support"):
        get_backend("npu-sim", platform="rk3566", mm="int4")
    with pytest.raises(ValueError, match="activation scheme"):
        get_backend("npu-sim", act_quant="per-channel")
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("gpu")


def test_available_backends_report():
    table = {name: (ok, reason) for name, ok, reason in available_backends()}
    assert table["cpu"][0] and table["cpu-numpy"][0] and table["npu-sim"][0]


def test_libggml_mul_mat_rejects_weights_of_the_wrong_shape_instead_of_aborting(tiny, ggml):
    t = tiny.tensor("blk.0.attn_q.weight")
    x = np.ones((1, t.ne[0]), np.float32)
    with pytest.raises(ValueError, match="uint8 \\(N, row bytes\\)"):
        ggml.mul_mat(t.type.id, t.raw().reshape(-1), t.ne[0], x)  # ggml would abort the process
    with pytest.raises(ValueError, match="activations must have shape"):
        ggml.mul_mat(t.type.id, t.raw(), t.ne[0], x[:, :-1])
    assert not t.raw().flags.writeable  # ggml reads the read-only memory map in place
    assert ggml.mul_mat(t.type.id, t.raw(), t.ne[0], x).shape == (1, t.ne[1])


@pytest.mark.parametrize("offset", [1, 8, 16, 32])
def test_libggml_mul_mat_accepts_weights_at_any_address(tiny, ggml, offset):
    # ggml's CPU buffer aborts on a pointer off its 32-byte alignment, e.g. a file with general.alignment = 8.
    t = tiny.tensor("blk.0.attn_q.weight")
    raw = t.raw()
    spare = np.empty(raw.nbytes + 128, np.uint8)
    start = -spare.ctypes.data % 64 + offset
    moved = spare[start:start + raw.nbytes].reshape(raw.shape)
    moved[...] = raw
    x = np.random.default_rng(0).standard_normal((2, t.ne[0])).astype(np.float32)
    assert np.array_equal(ggml.mul_mat(t.type.id, moved, t.ne[0], x), ggml.mul_mat(t.type.id, raw, t.ne[0], x))


# -- byte order and non-finite weights ---------------------------------------------------------------
def _plain_model(path, byteorder: str, w: np.ndarray):
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    b = GGUFBuilder(byteorder=byteorder).add("general.architecture", STRING, "llama")
    b.add_tensor("f32.weight", (w.shape[1], w.shape[0]), 0, w.astype(byteorder + "f4").tobytes())
    b.add_tensor("f16.weight", (w.shape[1], w.shape[0]), 1, w.astype(byteorder + "f2").tobytes())
    b.add_tensor("bf16.weight", (w.shape[1], w.shape[0]), 30,
                 (w.view(np.uint32) >> 16).astype(byteorder + "u2").tobytes())
    b.write(path)
    return path


def test_the_cpu_reference_reads_a_big_endian_file_like_its_little_endian_twin(tmp_path):
    w = np.random.default_rng(8).standard_normal((40, 512)).astype(np.float32)
    with layoutscope.open(_plain_model(tmp_path / "be.gguf", ">", w)) as be, \
            layoutscope.open(_plain_model(tmp_path / "le.gguf", "<", w)) as le:
        for name in ("f32.weight", "f16.weight", "bf16.weight"):
            for backend in ("cpu", "cpu-numpy"):
                got = get_backend(backend).matmul(be.tensor(name), X512)
                want = get_backend(backend).matmul(le.tensor(name), X512)
                assert np.array_equal(got.y.view(np.uint32), want.y.view(np.uint32)), (name, backend)
            notes = get_backend("cpu").matmul(be.tensor(name), X512).details["notes"]
            assert notes == [f"big-endian file: the {be.tensor(name).type.name} values were byte-swapped to the "
                             "host's order for ggml"]
            assert "notes" not in get_backend("cpu").matmul(le.tensor(name), X512).details


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory):
    w = np.random.default_rng(9).standard_normal((64, 512)).astype(np.float32)
    w[3, 5], w[10, 100], w[20, 200] = np.nan, np.inf, -np.inf
    path = _plain_model(tmp_path_factory.mktemp("nan") / "nan.gguf", "<", w)
    with layoutscope.open(path) as m:
        yield m


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("mm, scheme", [("int8", "per-channel"), ("int8-fp32", "per-group:32"), ("int8-int8", "per-tensor"),
                                        ("int4", "per-channel"), ("fp16", "per-channel"), ("fp16-fp16", "fixed")])
def test_the_npu_pipeline_carries_non_finite_weights_without_warnings(nan_model, mm, scheme):
    t = nan_model.tensor("f32.weight")
    x = X512.copy()
    x[2, 9] = np.nan
    result = get_backend("npu-sim", mm=mm, weight_quant=scheme, act_quant="per-token").matmul(t, x)
    found = result.details["requantization_findings"]
    if mm.startswith("fp16"):
        assert not np.isfinite(result.y[:, 3]).any()  # fp16 carries the NaN of row 3 into Y's column 3
        assert found == ["W requantization to fp16: 3 non-finite input value(s) stay NaN or ±inf in fp16",
                         "X requantization to fp16: 1 non-finite input value(s) stay NaN or ±inf in fp16"]
    else:
        assert np.isfinite(result.y).all()  # integer codes cannot carry NaN: coded 0, ±inf saturated
        assert [f.split(", the first")[0] for f in found] == ["W requantization: 3 non-finite input value(s)",
                                                              "X requantization: 1 non-finite input value(s)"]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("backend", ["cpu", "cpu-numpy"])
def test_the_references_carry_non_finite_values_without_warnings(nan_model, backend):
    x = X512.copy()
    x[2, 9] = np.inf
    for name in ("f32.weight", "f16.weight", "bf16.weight"):
        y = get_backend(backend).matmul(nan_model.tensor(name), x).y
        assert not np.isfinite(y[:, 3]).any() and not np.isfinite(y[2]).any()
