"""The community backend's six pipelines against an independent reference written from the fact sheet."""

from __future__ import annotations

import numpy as np
import pytest
from array_weight import ArrayWeight
from community_reference import pipeline as reference

from layoutscope.backend import get_backend
from layoutscope.backend.community import hadamard
from layoutscope.backend.community.emulator import CommunityBackend
from layoutscope.backend.community.pipelines import PIPELINE_NAMES, PIPELINES, get_pipeline
from layoutscope.gguf import Model
from layoutscope.samples import TINY_LLAMA, path


def _check_against_reference(name, weight, w, x, platform="rk3588", k_limit=8192, cores=3):
    backend = CommunityBackend(name, platform=platform, seed=5)
    result = backend.matmul(weight, x)
    signs = hadamard.sign_vector(5, weight.name, hadamard.k_op(w.shape[1])) if name.endswith("HADAMARD") else None
    y, raw = reference(name, w, x, signs, k_limit, cores)
    if get_pipeline(name).integer:
        # Same codes, an exact integer product, the same float32 rescale: bit for bit.
        np.testing.assert_array_equal(result.raw, raw)
        np.testing.assert_array_equal(result.y, y)
    else:
        # FP16: only the accumulation differs (float32 BLAS against float64 here).
        np.testing.assert_allclose(result.y, y, rtol=1e-4, atol=1e-4 * float(np.abs(y).max()))
    return result


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_each_pipeline_matches_the_reference_on_random_weights_with_two_k_segments(name):
    rng = np.random.default_rng(1)
    # RK3576: K segments of 4096, two cores. K = 4160 gives [4096, 64]; with Hadamard K_op = 8192 → [4096, 4096].
    w = (rng.standard_normal((128, 4160)) * 0.05).astype(np.float32)
    w[3, 17] = 1.5  # an outlier: the KL search has something to clip
    x = rng.standard_normal((5, 4160)).astype(np.float32)
    x[1] = 0  # an all-zero token: scale 0, codes 0
    result = _check_against_reference(name, ArrayWeight(w, "blk.0.ffn_up.weight"), w, x, "rk3576", 4096, 2)
    assert len(result.details["k_segments"]) == 2 and result.details["n_segments"] == [64, 64]
    assert not np.any(result.y[1])


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_each_pipeline_matches_the_reference_on_a_real_weight(name):
    rng = np.random.default_rng(2)
    with Model(path(TINY_LLAMA)) as model:
        weight = model.tensor("blk.0.ffn_down.weight")  # K = 704: Hadamard pads to 1024
        w = weight.dequantize()
        x = rng.standard_normal((4, weight.ne[0])).astype(np.float32)
        result = _check_against_reference(name, weight, w, x)
    assert result.details["K_op"] == (1024 if name.endswith("HADAMARD") else 704)


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_every_pipeline_record_is_consistent_and_runs(name):
    p = PIPELINES[name]
    bits = int(name[1:name.index("A")])
    assert p.name == name and p.bits == bits and p.hadamard == name.endswith("_HADAMARD")
    assert p.n_align == {16: 16, 8: 32, 4: 64}[bits] and p.qmax == {16: 0, 8: 127, 4: 7}[bits]
    assert p.rknn_type == {16: "RKNN_FLOAT16_MM_FLOAT16_TO_FLOAT32", 8: "RKNN_INT8_MM_INT8_TO_INT32",
                           4: "RKNN_INT4_MM_INT4_TO_INT16"}[bits]
    assert (p.a_type, p.c_type) == {16: ("fp16", "fp32"), 8: ("int8", "int32"), 4: ("int4", "int16")}[bits]
    rng = np.random.default_rng(3)
    weight = ArrayWeight(rng.standard_normal((192, 96)).astype(np.float32))
    x = rng.standard_normal((3, 96)).astype(np.float32)
    result = get_backend("npu-sim", pipeline=name).matmul(weight, x)
    d = result.details
    assert d["pipeline"] == name and d["backend"] == "rk-community" and result.y.shape == (3, 192)
    assert d["K_op"] == (128 if p.hadamard else 96) and sum(d["n_segments"]) == 192
    assert (result.raw is not None) == p.integer
    exact = x.astype(np.float64) @ weight.values.astype(np.float64).T
    nmse = np.mean((result.y - exact) ** 2) / np.mean(exact ** 2)
    assert nmse < {16: 1e-6, 8: 1e-3, 4: 0.2}[bits]
    assert any("dequantize" in u for u in d["unconfirmed"])
    assert any("FP16 products" in u for u in d["unconfirmed"]) == (bits == 16)
    assert any("int16" in u for u in d["unconfirmed"]) == (bits == 4)
    assert any("signs" in u for u in d["unconfirmed"]) == p.hadamard


def test_integer_products_are_exact_where_float32_would_not_be():
    # K = 8192 codes of 127: C = 8192·127² = 132,128,768, past float32's 2**24 exact integers.
    weight = ArrayWeight(np.ones((32, 8192), dtype=np.float32))
    x = np.ones((2, 8192), dtype=np.float32)
    result = CommunityBackend("W8A8_STANDARD").matmul(weight, x)
    assert (result.raw == 8192 * 127 * 127).all()
    # W4A4: 8192·49 leaves int16. UNCONFIRMED whether the NPU saturates (default) or wraps.
    sat = CommunityBackend("W4A4_STANDARD").matmul(weight, x)
    wrap = CommunityBackend("W4A4_STANDARD", int4_overflow="wrap").matmul(weight, x)
    assert (sat.raw == 32767).all() and sat.details["int16_overflows"] == 64
    assert (wrap.raw == (8192 * 49 + 32768) % 65536 - 32768).all()
    assert any("saturate" in u for u in sat.details["unconfirmed"])
    assert any("wrap" in u for u in wrap.details["unconfirmed"])


@pytest.mark.parametrize("k", [1024, 1056], ids=["float32-products", "float64-products"])
def test_integer_products_stay_exact_on_both_sides_of_float32_s_24_bits(k):
    # 127²·1024 fits float32's 24-bit mantissa, so float32 BLAS computes it; 127²·1055 + 127·126 = 17,015,097
    # is odd and past 2**24, which float32 cannot hold: that segment must go through float64.
    weight = ArrayWeight(np.full((8, k), 127, dtype=np.float32))
    x = np.full((3, k), 127, dtype=np.float32)
    x[:, 1] = 126
    result = CommunityBackend("W8A8_STANDARD").matmul(weight, x)
    assert (result.raw == 127 * 127 * (k - 1) + 127 * 126).all()
    assert result.raw.dtype == np.int64


def test_integer_product_equals_an_int64_matmul_of_the_codes():
    rng = np.random.default_rng(4)
    w = rng.integers(-127, 128, size=(64, 2048)).astype(np.float32)
    w[:, 0] = 127  # every row's amax is 127: scale 1, codes = w
    x = rng.integers(-127, 128, size=(6, 2048)).astype(np.float32)
    x[:, 0] = 127
    result = CommunityBackend("W8A8_STANDARD").matmul(ArrayWeight(w), x)
    np.testing.assert_array_equal(result.raw, x.astype(np.int64) @ w.astype(np.int64).T)


def test_activation_rounding_is_half_away_from_zero_and_the_fork_rounds_ties_to_even():
    # amax 127 → sA = 1: X's codes are X rounded. W = I → sB = 1/127, codes 127·I, so C = 127·codes(X).
    x = np.zeros((1, 32), dtype=np.float32)
    x[0, :7] = [127, 0.5, 1.5, 2.5, -0.5, -2.5, -3.5]
    weight = ArrayWeight(np.eye(32, dtype=np.float32))
    away = CommunityBackend("W8A8_STANDARD").matmul(weight, x).raw[0, :7] // 127
    even = CommunityBackend("W8A8_STANDARD", activation_rounding="half-even").matmul(weight, x).raw[0, :7] // 127
    assert away.tolist() == [127, 1, 2, 3, -1, -3, -4]
    assert even.tolist() == [127, 0, 2, 2, 0, -2, -4]  # what np.round would give: not the backend's rule


def test_rescale_orders_differ_only_in_float32_rounding():
    rng = np.random.default_rng(6)
    weight = ArrayWeight(rng.standard_normal((96, 200)).astype(np.float32))
    x = rng.standard_normal((8, 200)).astype(np.float32)
    org = CommunityBackend("W8A8_HADAMARD").matmul(weight, x)
    inv = CommunityBackend("W8A8_HADAMARD", rescale_order="inv").matmul(weight, x)
    np.testing.assert_array_equal(org.raw, inv.raw)
    np.testing.assert_allclose(org.y, inv.y, rtol=1e-6, atol=1e-6)


def test_the_seed_sets_the_signs_per_tensor():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((64, 96)).astype(np.float32)
    x = rng.standard_normal((2, 96)).astype(np.float32)
    run = lambda seed, name: CommunityBackend("W8A8_HADAMARD", seed=seed).matmul(ArrayWeight(w, name), x)
    assert np.array_equal(run(0, "a").raw, run(0, "a").raw)
    assert not np.array_equal(run(0, "a").raw, run(1, "a").raw)
    assert not np.array_equal(run(0, "a").raw, run(0, "b").raw)
    assert run(3, "a").details["seed"] == 3


def test_forks_change_the_step_they_name():
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((128, 256)) * 0.02).astype(np.float32)
    w[5, 9] = 1.0
    weight = ArrayWeight(w)
    x = rng.standard_normal((4, 256)).astype(np.float32)
    block = CommunityBackend("W4A4_STANDARD").prepare(weight).requantized.scale
    perchan = CommunityBackend("W4A4_STANDARD", int4_weight_scale="per-channel-amax").prepare(weight).requantized.scale
    assert len(np.unique(block)) <= 3 and len(np.unique(perchan)) > 100  # one per core block vs one per channel
    clipped = CommunityBackend("W4A4_STANDARD", int4_weight_scale="per-channel-amax", weight_clip=0.93)
    np.testing.assert_allclose(clipped.prepare(weight).requantized.scale, perchan * 0.93, rtol=1e-6)
    int8_block = CommunityBackend("W8A8_STANDARD", int8_weight_scale="per-block").prepare(weight).requantized.scale
    assert np.unique(int8_block).size <= 3
    diag = CommunityBackend("W8A8_HADAMARD", hadamard_blocks="block-diagonal").matmul(
        ArrayWeight(w[:, :192]), x[:, :192])
    assert diag.details["K_op"] == 192 and diag.details["hdiv"] == 64


def test_clipped_int8_weights_clamp_saturate_or_wrap():
    # Percentile calibration clips the two largest values of a row of 2048 (the 3rd largest is the amax).
    w = np.full((32, 2048), 0.01, dtype=np.float32)
    w[:, :3] = [[4.0, 2.0, 1.0]]
    weight = ArrayWeight(w)
    codes = {mode: CommunityBackend("W8A8_STANDARD", w8_calib="percentile", clipped_weights=mode)
             .prepare(weight).requantized.codes[0][0, :3].tolist() for mode in ("clamp", "saturate", "wrap")}
    assert codes == {"clamp": [127, 127, 127], "saturate": [127, 127, 127], "wrap": [-4, -2, 127]}
    neg = CommunityBackend("W8A8_STANDARD", w8_calib="percentile", clipped_weights="saturate")
    assert neg.prepare(ArrayWeight(-w)).requantized.codes[0][0, :3].tolist() == [-128, -128, -127]


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_a_weight_prepared_without_float_copies_multiplies_bit_for_bit_the_same(name):
    rng = np.random.default_rng(11)
    weight = ArrayWeight(rng.standard_normal((96, 160)).astype(np.float32))
    x = rng.standard_normal((5, 160)).astype(np.float32)
    backend = CommunityBackend(name, seed=3)
    full, lean = backend.prepare(weight), backend.prepare(weight, keep_values=False)
    assert lean.values is None and lean.requantized.values is None and full.requantized.values is not None
    for a, b in zip(full.requantized.codes, lean.requantized.codes):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(backend.matmul_prepared(full, x).y, backend.matmul_prepared(lean, x).y)


@pytest.mark.parametrize("name", PIPELINE_NAMES)
@pytest.mark.parametrize("keep_values", [True, False])
def test_preparing_never_writes_into_the_weight_or_the_values_given(name, keep_values):
    # Preparing quantizes in place where it owns the buffer (a rotation's output): never the caller's arrays.
    rng = np.random.default_rng(12)
    values = rng.standard_normal((64, 96)).astype(np.float32)
    weight = ArrayWeight(values.copy())
    given = values.copy()
    backend = CommunityBackend(name, seed=1)
    backend.prepare(weight, keep_values=keep_values)
    backend.prepare(weight, values=given, keep_values=keep_values)
    np.testing.assert_array_equal(weight.dequantize(), values)
    np.testing.assert_array_equal(given, values)
