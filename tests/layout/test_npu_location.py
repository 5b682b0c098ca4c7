"""The native-B locator agrees with pack_b: the byte it names holds the element, and no other does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutscope.backend.rknpu2 import layout as L
from layoutscope.backend.rknpu2.platforms import PLATFORMS
from layoutscope.layout.npu_location import locate_native_b

PAIRS = [(p, d) for p, plat in PLATFORMS.items() for d in plat.b_tile]
MARK = {"int8": 77, "int4": 5, "fp16": 1.5}


def _only_marked_byte(platform, dtype, K, N, k, n):
    b = np.zeros((K, N), dtype=np.float16 if dtype == "fp16" else np.int8)
    b[k, n] = MARK[dtype]
    packed = L.pack_b(b, platform, dtype)
    raw = packed.reshape(-1).view(np.uint8)
    loc = locate_native_b(platform, dtype, K, N, k, n)
    assert loc.buffer_bytes == raw.size
    nonzero = np.flatnonzero(raw)
    if dtype == "int4":
        assert nonzero.tolist() == [loc.byte_offset]
        byte = int(raw[loc.byte_offset])
        nibble = byte & 0x0F if loc.nibble == "low" else byte >> 4
        assert nibble == MARK["int4"] and (byte & 0x0F if loc.nibble == "high" else byte >> 4) == 0
    elif dtype == "fp16":
        assert set(nonzero.tolist()) <= {loc.byte_offset, loc.byte_offset + 1}
        assert raw[loc.byte_offset : loc.byte_offset + 2].view(np.float16)[0] == np.float16(MARK["fp16"])
    else:
        assert nonzero.tolist() == [loc.byte_offset] and raw[loc.byte_offset].view(np.int8) == MARK["int8"]
    # The element index counts elements of the unpacked native buffer.
    flat = (L.unpack_int4(packed.reshape(-1)) if dtype == "int4" else packed.reshape(-1))
    assert flat[loc.element_index] == b[k, n]
    return loc


@pytest.mark.parametrize("platform,dtype", PAIRS)
@settings(max_examples=20, deadline=None)
@given(K=st.integers(1, 200), N=st.integers(1, 150), data=st.data())
def test_locator_names_the_byte_pack_b_writes(platform, dtype, K, N, data):
    k = data.draw(st.integers(0, K - 1))
    n = data.draw(st.integers(0, N - 1))
    _only_marked_byte(platform, dtype, K, N, k, n)


@pytest.mark.parametrize("dtype", ["int8", "fp16", "int4"])
def test_k_segments_on_rk3588(dtype):
    K, N = 8192 + 100, 40
    for k in (0, 8191, 8192, K - 1):
        loc = _only_marked_byte("rk3588", dtype, K, N, k, 33)
        assert len(loc.segments) == 2 and loc.segment == (1 if k >= 8192 else 0)
    assert "segment 1" in "\n".join(loc.lines()) and "UNCERTAIN" in "\n".join(loc.lines())


def test_q8_0_ffn_down_worked_example():
    # LLaMA-2-7B ffn_down: K = 11008 > 8192 on RK3588, N = 4096.
    loc = locate_native_b("rk3588", "int8", 11008, 4096, k=100, n=3)
    assert (loc.tile_n, loc.tile_k, loc.in_tile_n, loc.in_tile_k) == (0, 3, 3, 4)
    assert loc.segment == 0 and loc.segments == ((0, 8192), (8192, 11008))
    assert loc.byte_offset == (3 * 32 + 3) * 32 + 4
    assert loc.K_padded == 8192 + 2816 and loc.N_padded == 4096
    text = "\n".join(loc.lines())
    assert "tile [0][3]" in text and "byte 3172" in text


def test_padding_is_reported():
    loc = locate_native_b("rk3588", "int8-fp32", 256, 1000, 0, 999)
    assert loc.N_padded == 1024 and loc.dtype == "int8"
    assert "24 zero row(s) of N" in "\n".join(loc.lines())


def test_bad_requests():
    with pytest.raises(ValueError, match="no int4"):
        locate_native_b("rk3566", "int4", 64, 64, 0, 0)
    with pytest.raises(IndexError):
        locate_native_b("rk3588", "int8", 64, 64, 64, 0)


@pytest.mark.parametrize("K,N,k,n", [(11008, 4096, 9000, 7), (4096, 32000, 5, 31999), (256, 1000, 10, 999)])
def test_location_in_the_call_the_backends_really_run(K, N, k, n):
    """Beyond the platform's limits the element is found in its own call's native B (as npu-sim packs it)."""
    from layoutscope.backend.rknpu2.plan import plan_matmul
    from layoutscope.backend.rknpu2.platforms import get_platform
    from layoutscope.layout.npu_location import locate_in_calls

    loc = locate_in_calls("rk3588", "int8", K, N, k, n)
    plan = plan_matmul(get_platform("rk3588"), "int8", 1, K, N)
    call = plan.calls[loc.call_index]
    assert loc.calls == len(plan.calls) and call.k0 <= k < call.k1 and call.n0 <= n < call.n1
    # The byte the location names is the element in that call's own packed buffer, and no other byte is.
    _only_marked_byte("rk3588", "int8", call.k, call.n, k - call.k0, n - call.n0)
    assert loc.native.k == k - call.k0 and loc.native.n == n - call.n0
    text = "\n".join(loc.lines())
    if loc.calls > 1:
        assert f"call {loc.call_index}" in text and "NPU calls" in text
    else:
        assert "NPU calls" not in text
