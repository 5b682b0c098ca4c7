"""Native layouts: round trips for every platform × dtype, and the documented index formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutscope.backend.rknpu2 import layout as L
from layoutscope.backend.rknpu2.platforms import MATMUL_TYPES, PLATFORMS, get_platform

PAIRS = [(p, d) for p, plat in PLATFORMS.items() for d in plat.b_tile]


def _values(rng, shape, dtype):
    if dtype == "fp16":
        return rng.standard_normal(shape).astype(np.float16)
    lo, hi = (-8, 8) if dtype == "int4" else (-128, 128)
    return rng.integers(lo, hi, size=shape, dtype=np.int8)


@pytest.mark.parametrize("platform,dtype", PAIRS)
@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 300), n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_a_b_c_round_trip(platform, dtype, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = _values(rng, (m, k), dtype)
    b = _values(rng, (k, n), dtype)
    na = L.pack_a(a, platform, dtype)
    nb = L.pack_b(b, platform, dtype)
    elements_a = int(np.prod(L.native_shape("A", platform, dtype, m, k, n)))
    elements_b = int(np.prod(L.native_shape("B", platform, dtype, m, k, n)))
    per_byte = 2 if dtype == "int4" else 1
    assert na.size * per_byte == elements_a and nb.size * per_byte == elements_b
    assert na.nbytes == L.native_nbytes("A", platform, dtype, m, k, n)
    assert nb.nbytes == L.native_nbytes("B", platform, dtype, m, k, n)
    assert np.array_equal(L.unpack_a(na, platform, dtype, m, k), a)
    assert np.array_equal(L.unpack_b(nb, platform, dtype, k, n), b)
    for mm in get_platform(platform).matmul_types:
        c_dtype = MATMUL_TYPES[mm].c_dtype
        c = rng.integers(-1000, 1000, size=(m, n)).astype(L.NUMPY_DTYPES[c_dtype])
        nc = L.pack_c(c, platform, c_dtype)
        assert np.array_equal(L.unpack_c(nc, platform, c_dtype, m, n), c)


@pytest.mark.parametrize("platform,dtype", [p for p in PAIRS if get_platform(p[0]).k_segment])
@settings(max_examples=6, deadline=None)
@given(extra=st.integers(1, 5000), n=st.integers(1, 80), seed=st.integers(0, 2**32 - 1))
def test_segmented_b_round_trip(platform, dtype, extra, n, seed):
    p = get_platform(platform)
    k = 2 * p.k_segment + extra  # three segments
    b = _values(np.random.default_rng(seed), (k, n), dtype)
    nb = L.pack_b(b, platform, dtype)
    assert nb.ndim == 1
    assert np.array_equal(L.unpack_b(nb, platform, dtype, k, n), b)
    # The first segment is exactly the native tiling of the first k_segment rows.
    first = L.pack_b(b[: p.k_segment], platform, dtype).reshape(-1)
    assert np.array_equal(nb[: first.size], first)


def test_rk3588_int8_b_index_formula():
    """B_nat[n//32][k//32][n%32][k%32] = B[k][n] (rknn_matmul_api.h)."""
    k, n = 96, 64
    b = np.random.default_rng(1).integers(-128, 128, size=(k, n), dtype=np.int8)
    nb = L.pack_b(b, "rk3588", "int8")
    assert nb.shape == (2, 3, 32, 32)
    kk, nn = np.meshgrid(np.arange(k), np.arange(n), indexing="ij")
    assert np.array_equal(nb[nn // 32, kk // 32, nn % 32, kk % 32], b)


def test_rk3588_int8_a_and_c_index_formulas():
    """A_nat[k//16][m][k%16] = A[m][k]; C_nat[n//4][m][n%4] = C[m][n]."""
    m, k, n = 3, 64, 12
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    na = L.pack_a(a, "rk3588", "int8")
    mm, kk = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")
    assert na.shape == (4, 3, 16) and np.array_equal(na[kk // 16, mm, kk % 16], a)
    c = rng.integers(-2**31, 2**31, size=(m, n)).astype(np.int32)
    nc = L.pack_c(c, "rk3588", "int32")
    mm, nn = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    assert nc.shape == (3, 3, 4) and np.array_equal(nc[nn // 4, mm, nn % 4], c)


def test_padding_is_zero_for_ragged_shapes():
    b = np.ones((40, 1000), np.int8)  # K and N both off the tile
    nb = L.pack_b(b, "rk3588", "int8")
    assert nb.shape == (32, 2, 32, 32)  # N 1000 → 1024, K 40 → 64
    assert int(nb.astype(np.int64).sum()) == 40 * 1000


def test_int4_nibbles_even_element_low():
    packed = L.pack_int4(np.array([[1, -2, 7, -8]], np.int8))
    assert packed.tolist() == [[0xE1, 0x87]]
    assert L.unpack_int4(packed).tolist() == [[1, -2, 7, -8]]
    with pytest.raises(ValueError, match="-8..7"):
        L.pack_int4(np.array([[8, 0]], np.int8))


def test_rk3566_has_no_int4_and_its_own_tiles():
    with pytest.raises(ValueError, match="int4"):
        L.pack_b(np.zeros((32, 16), np.int8), "rk3566", "int4")
    assert L.native_shape("B", "rk3566", "int8", 1, 64, 32) == (2, 2, 16, 32)
    assert L.native_shape("A", "rk3566", "fp16", 5, 64, 32) == (16, 5, 4)


def test_wrong_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="float16"):
        L.pack_a(np.zeros((2, 32), np.float32), "rk3588", "fp16")
    with pytest.raises(ValueError, match="unknown platform"):
        get_platform("rk9999")
