"""npu-sim: exact integer products from native buffers, and layout mistakes that reproduce."""

from __future__ import annotations

import numpy as np
import pytest

from layoutscope.backend.rknpu2 import emulator, layout as L

RNG = np.random.default_rng(7)


def _int8(shape, lo=-128, hi=128):
    return RNG.integers(lo, hi, size=shape, dtype=np.int8)


@pytest.mark.parametrize("platform", ["rk3588", "rk3576", "rk3566", "rk3562"])
@pytest.mark.parametrize("m,k,n", [(1, 32, 16), (5, 4096, 1000), (3, 10240, 64), (32, 200, 48)])
def test_int8_to_int32_is_bit_exact(platform, m, k, n):
    a, b = _int8((m, k)), _int8((k, n))
    run = emulator.run(L.pack_a(a, platform, "int8"), L.pack_b(b, platform, "int8"), platform, "int8", m, k, n)
    c = L.unpack_c(run.c_native, platform, "int32", m, n)
    assert c.dtype == np.int32
    assert np.array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


def test_extreme_values_stay_exact():
    a = np.full((2, 10240), -128, np.int8)
    b = np.full((10240, 32), -128, np.int8)
    assert np.array_equal(emulator.exact_int_matmul(a, b), np.full((2, 32), 128 * 128 * 10240))


@pytest.mark.parametrize("transposed", [False, True])
def test_exact_across_block_edges(transposed):
    # N spans several float32 blocks of B (and a ragged last one), K several exact chunks.
    m, k, n = 3, 2100, 2 * (emulator._BLOCK_ELEMENTS // 1024) + 77
    a = _int8((m, k))
    b = _int8((n, k)).T if transposed else _int8((k, n))  # npu_sweep hands over Wᵀ views
    assert np.array_equal(emulator.exact_int_matmul(a, b), a.astype(np.int64) @ b.astype(np.int64))


def test_a_layout_mistake_reproduces_garbage():
    m, k, n = 4, 256, 64
    a, b = _int8((m, k)), _int8((k, n))
    wrong_a = a.reshape(-1)[: m * k].reshape(k // 16, m, 16)  # normal A declared native
    run = emulator.run(wrong_a, L.pack_b(b, "rk3588", "int8"), "rk3588", "int8", m, k, n)
    c = L.unpack_c(run.c_native, "rk3588", "int32", m, n)
    assert not np.array_equal(c, a.astype(np.int64) @ b)


def test_int8_fp32_per_channel_and_per_group():
    m, k, n = 3, 128, 40
    a, b = _int8((m, k)), _int8((k, n))
    sb = RNG.random(n).astype(np.float32)
    run = emulator.run(L.pack_a(a, "rk3588", "int8"), L.pack_b(b, "rk3588", "int8"), "rk3588", "int8-fp32",
                       m, k, n, a_scale=0.5, b_scale=sb)
    c = L.unpack_c(run.c_native, "rk3588", "fp32", m, n)
    assert np.allclose(c, (a.astype(np.int64) @ b) * 0.5 * sb, rtol=1e-6)
    sg = RNG.random((k // 32, n)).astype(np.float32)
    run = emulator.run(L.pack_a(a, "rk3588", "int8"), L.pack_b(b, "rk3588", "int8"), "rk3588", "int8-fp32",
                       m, k, n, a_scale=2.0, b_scale=sg, b_group=32)
    c = L.unpack_c(run.c_native, "rk3588", "fp32", m, n)
    ref = sum((a[:, g * 32:(g + 1) * 32].astype(np.int64) @ b[g * 32:(g + 1) * 32]) * sg[g] for g in range(k // 32)) * 2.0
    assert np.allclose(c, ref, rtol=1e-5)
    assert any("per-group" in note for note in run.notes)


def test_int4_saturates_and_counts_overflow():
    m, k, n = 2, 1024, 64
    a = np.full((m, k), -8, np.int8)
    b = np.full((k, n), -8, np.int8)
    run = emulator.run(L.pack_a(a, "rk3588", "int4"), L.pack_b(b, "rk3588", "int4"), "rk3588", "int4", m, k, n)
    c = L.unpack_c(run.c_native, "rk3588", "int16", m, n)
    assert c.dtype == np.int16 and np.all(c == 32767)
    assert run.overflow_count == m * n and any("UNCERTAIN" in note for note in run.notes)
    small = _int8((m, 256), -8, 8), _int8((256, n), -8, 8)
    run = emulator.run(L.pack_a(small[0], "rk3588", "int4"), L.pack_b(small[1], "rk3588", "int4"), "rk3588", "int4", m, 256, n)
    assert run.overflow_count == 0
    assert np.array_equal(L.unpack_c(run.c_native, "rk3588", "int16", m, n), small[0].astype(np.int64) @ small[1])


def test_int8_to_int8_requantizes_with_rounding_note():
    m, k, n = 2, 64, 32
    a, b = _int8((m, k)), _int8((k, n))
    run = emulator.run(L.pack_a(a, "rk3588", "int8"), L.pack_b(b, "rk3588", "int8"), "rk3588", "int8-int8",
                       m, k, n, a_scale=0.01, b_scale=0.02, c_scale=1.0)
    c = L.unpack_c(run.c_native, "rk3588", "int8", m, n)
    exact = (a.astype(np.int64) @ b) * 0.01 * 0.02
    assert c.dtype == np.int8 and np.all(np.abs(c - np.clip(exact, -128, 127)) <= 0.5 + 1e-9)
    assert any("UNCERTAIN" in note for note in run.notes)


def test_fp16_paths_are_close_and_marked_approximate():
    m, k, n = 4, 256, 48
    a = RNG.standard_normal((m, k)).astype(np.float16)
    b = RNG.standard_normal((k, n)).astype(np.float16)
    for mm, c_dtype in (("fp16", "fp32"), ("fp16-fp16", "fp16")):
        run = emulator.run(L.pack_a(a, "rk3588", "fp16"), L.pack_b(b, "rk3588", "fp16"), "rk3588", mm, m, k, n)
        c = L.unpack_c(run.c_native, "rk3588", c_dtype, m, n)
        assert np.allclose(c.astype(np.float64), a.astype(np.float64) @ b.astype(np.float64), rtol=2e-2, atol=5e-2)
        assert any("approximate" in note for note in run.notes)


def test_unsupported_type_on_platform():
    with pytest.raises(ValueError, match="rk3566 does not support"):
        emulator.run(np.zeros(0), np.zeros(0), "rk3566", "int4", 1, 32, 16)
