"""Family checks for the plain, legacy, ternary and FP4 types.

The registry-wide tests prove bit-exactness on random blocks; these pin down
what random blocks rarely hit (E8M0 e = 255, UE4M3 corner bytes, inf/NaN in
one chunk of many, big-endian plain tensors, strided and threaded inputs) and
what users read (anatomy roles and worked text on hand-built blocks).
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

from layoutscope.formats import all_types, ggml_type
from layoutscope.formats import _kernel

MINE = ["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q1_0", "Q2_0", "TQ1_0", "TQ2_0", "MXFP4", "NVFP4"]


def half(x: float) -> bytes:
    return np.float16(x).tobytes()


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


# --- anatomy on hand-built blocks ------------------------------------------------


def test_q8_0_anatomy_of_a_hand_built_block():
    qs = np.zeros(32, np.int8)
    qs[3] = -45
    block = half(0.5) + qs.tobytes()
    a = ggml_type("Q8_0").anatomy(block, 3)
    assert a.value == -22.5
    assert a.formula == "x = d·q"
    assert a.worked == "x = 0.5·(-45) = -22.5"
    assert [(s.field, s.byte, s.bits) for s in a.quant] == [("qs", 5, None)]
    d = next(t for t in a.terms if t.name == "d")
    assert d.value == 0.5 and d.byte == 0 and d.size == 2 and "00 38" in d.source


def test_q4_0_nibble_order_and_roles():
    qs = bytearray(16)
    qs[5] = 0xD3  # low nibble 3 → element 5, high nibble 13 → element 21
    block = half(0.25) + bytes(qs)
    t = ggml_type("Q4_0")
    values = t.dequantize(np.frombuffer(block, np.uint8))
    assert values[5] == 0.25 * (3 - 8) and values[21] == 0.25 * (13 - 8)
    low, high = t.anatomy(block, 5), t.anatomy(block, 21)
    assert (low.quant[0].byte, low.quant[0].bits, low.quant[0].role) == (7, (0, 3), "low nibble of qs[5]")
    assert (high.quant[0].byte, high.quant[0].bits, high.quant[0].role) == (7, (4, 7), "high nibble of qs[5]")
    assert high.worked == "x = 0.25·(13 − 8) = 1.25"


def test_q4_1_worked_text_shows_a_negative_minimum():
    block = half(0.5) + half(-2.0) + bytes([0x07] + [0] * 15)
    a = ggml_type("Q4_1").anatomy(block, 0)
    assert a.value == 1.5 and a.worked == "x = 0.5·7 - 2 = 1.5"


def test_q5_0_fifth_bit_comes_from_qh_bit_j():
    qh = (1 << 20).to_bytes(4, "little")  # only element 20 has its 5th bit set
    qs = bytearray(16)
    qs[4] = 0x90  # element 4: nibble 0, element 20: nibble 9
    block = half(1.0) + qh + bytes(qs)
    t = ggml_type("Q5_0")
    values = t.dequantize(np.frombuffer(block, np.uint8))
    assert values[20] == (9 + 16) - 16 and values[4] == 0 - 16
    a = t.anatomy(block, 20)
    bit = next(s for s in a.quant if s.field == "qh")
    assert (bit.byte, bit.bits) == (2 + 20 // 8, (4, 4))
    assert a.worked.startswith("q = 9 + 16·1 = 25")


def test_q1_0_sign_bits_and_q2_0_sequential_codes():
    q1 = ggml_type("Q1_0")
    block = half(0.75) + bytes([0b0000_0010] + [0] * 15)
    values = q1.dequantize(np.frombuffer(block, np.uint8))
    assert values[1] == 0.75 and values[0] == -0.75 and np.all(values[2:] == -0.75)
    assert q1.anatomy(block, 1).quant[0].bits == (1, 1)

    q2 = ggml_type("Q2_0")
    block = half(2.0) + bytes([0b11_10_01_00] + [0] * 15)  # codes 0, 1, 2, 3 in order
    values = q2.dequantize(np.frombuffer(block, np.uint8))
    assert list(values[:4]) == [-2.0, 0.0, 2.0, 4.0]
    assert q2.anatomy(block, 3).quant[0].bits == (6, 7)


def test_q8_1_ignores_the_sum_field():
    qs = np.arange(-16, 16, dtype=np.int8)
    block = half(0.125) + half(-1234.0) + qs.tobytes()
    values = ggml_type("Q8_1").dequantize(np.frombuffer(block, np.uint8))
    assert np.array_equal(values, qs.astype(np.float32) * np.float32(0.125))
    assert any(t.name == "s" for t in ggml_type("Q8_1").anatomy(block, 0).terms)


def test_tq1_0_trit_positions_and_worked_text():
    t = ggml_type("TQ1_0")
    qs = bytearray(48)
    qs[7] = 200  # trits of 200: n=0 → 2, n=1 → (88·3)>>8 = 1, n=2 → (8·3)>>8 = 0
    block = bytes(qs) + bytes(4) + half(0.5)
    values = t.dequantize(np.frombuffer(block, np.uint8))
    assert (values[7], values[32 + 7], values[64 + 7]) == (0.5, 0.0, -0.5)
    a = t.anatomy(block, 64 + 7)
    assert (a.quant[0].field, a.quant[0].byte) == ("qs", 7)
    assert a.worked == "t = (((200·9) mod 256)·3) >> 8 = (8·3) >> 8 = 0;  x = 0.5·(0 − 1) = -0.5"
    # The last 16 elements come from qh, 4 trits per byte: element 240 + 4n + j.
    assert t.anatomy(block, 240 + 4 * 3 + 2).quant[0].byte == 48 + 2


# --- FP4 scales --------------------------------------------------------------


def test_mxfp4_e8m0_extremes_match_ggml(ggml):
    t = ggml_type("MXFP4")
    blocks = np.zeros((3, 17), np.uint8)
    blocks[:, 0] = [255, 0, 1]
    blocks[:, 1] = 0x21  # element 0: code 1 (0.5 → kvalue 1), element 16: code 2 (kvalue 2)
    ours = t.dequantize(blocks)
    ref = ggml.to_float(t.id, blocks, 96).reshape(3, 32)
    assert np.array_equal(bits(ours), bits(ref))
    assert ours[0, 0] == np.float32(2.0**127) and np.isinf(ours[0, 16])  # e = 255 is a scale, not NaN
    assert ours[1, 0] == np.float32(2.0**-128) and ours[2, 16] == np.float32(2.0**-126)
    a = t.anatomy(blocks[0].tobytes(), 16)
    assert np.isinf(a.value) and "2^(255 − 128)" in a.worked


def test_nvfp4_ue4m3_corner_bytes_match_ggml(ggml):
    t = ggml_type("NVFP4")
    block = np.zeros(36, np.uint8)
    # UE4M3: 0x7F is 0; 0xFF reads as 480 (bit 7 ignored); 0x80 is 0; 0x38 is 1.0.
    block[:4] = [0x7F, 0xFF, 0x80, 0x38]
    block[4:] = 0x11  # every element has code 1: E2M1 0.5, kvalue 1
    ours = t.dequantize(block)
    ref = ggml.to_float(t.id, block, 64)
    assert np.array_equal(bits(ours), bits(ref))
    assert list(ours[::16]) == [0.0, 240.0, 0.0, 0.5]  # 0.5 × the UE4M3 scale
    assert t.anatomy(block.tobytes(), 16 + 8).quant[0].role == "high nibble of qs[8]"


def test_every_ue4m3_and_e8m0_byte_matches_ggml(ggml):
    scales = np.arange(256, dtype=np.uint8)
    nv = np.zeros((64, 36), np.uint8)
    nv[:, :4] = scales.reshape(64, 4)
    nv[:, 4:] = 0x71  # codes 1 and 7 (kvalues 1 and 12)
    mx = np.zeros((256, 17), np.uint8)
    mx[:, 0] = scales
    mx[:, 1:] = 0xF9  # codes 9 and 15 (kvalues −1 and −12)
    for name, blocks in (("NVFP4", nv), ("MXFP4", mx)):
        t = ggml_type(name)
        ref = ggml.to_float(t.id, blocks, blocks.shape[0] * t.block_size)
        assert np.array_equal(bits(t.dequantize(blocks).reshape(-1)), bits(ref)), name


# --- plain types and byte order ------------------------------------------------


@pytest.mark.parametrize("name,dtype", [("F32", "f4"), ("F16", "f2"), ("F64", "f8"), ("I16", "i2"), ("I32", "i4"), ("I64", "i8")])
def test_big_endian_plain_types(name, dtype):
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(4096) * 1000).astype("<" + dtype)
    t = ggml_type(name)
    little = t.dequantize(values.view(np.uint8))
    big_bytes = values.astype(">" + dtype).view(np.uint8)
    big = t.dequantize(big_bytes, byteorder=">")
    assert np.array_equal(bits(little), bits(big))
    assert np.array_equal(bits(little), bits(values.astype(np.float32)))
    size = t.type_size
    for i in (0, 77):
        a = t.anatomy(big_bytes[i * size : (i + 1) * size].tobytes(), 0, ">")
        assert np.float32(a.value).view(np.uint32) == little[i].view(np.uint32)


def test_big_endian_bf16_and_its_sign_bit_position():
    t = ggml_type("BF16")
    top = np.array([0xC0490FDB >> 16], dtype=np.uint32)  # −3.140625 once truncated to bf16
    little = top.astype("<u2").view(np.uint8)
    big = top.astype(">u2").view(np.uint8)
    assert t.dequantize(little)[0] == t.dequantize(big, ">")[0] == np.float32(-3.140625)
    sign_le = t.anatomy(little.tobytes(), 0, "<").quant[0]
    sign_be = t.anatomy(big.tobytes(), 0, ">").quant[0]
    assert (sign_le.byte, sign_le.bits) == (1, (7, 7)) and (sign_be.byte, sign_be.bits) == (0, (7, 7))


def test_f16_specials_in_one_chunk_of_many(ggml):
    """inf/NaN/subnormals/−0 take the exact fallback only in their own chunk."""
    n = 3 * _kernel._CHUNK_ELEMENTS
    halves = (np.random.default_rng(3).standard_normal(n) * 0.01).astype("<f2")
    specials = np.array([np.inf, -np.inf, np.nan, -0.0, 6e-8, -6e-8, 65504, -65504], "<f2")
    halves[_kernel._CHUNK_ELEMENTS + 10 : _kernel._CHUNK_ELEMENTS + 18] = specials
    halves[5] = np.float16(-3e-6)  # a subnormal in a chunk without specials
    raw = halves.view(np.uint8)
    ours = ggml_type("F16").dequantize(raw)
    ref = ggml.to_float(1, raw, n)
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    keep = ~np.isnan(ref)
    assert np.array_equal(bits(ours[keep]), bits(ref[keep]))


def test_integer_anatomy_notes_float32_rounding():
    t = ggml_type("I64")
    raw = np.array([2**53 + 1], "<i8").view(np.uint8).tobytes()
    a = t.anatomy(raw, 0)
    assert a.value == float(np.float32(2**53)) and "rounded to float32" in a.worked


# --- registry facts checked against ggml's CPU traits -----------------------------


class _CpuTraits(ctypes.Structure):
    # struct ggml_type_traits_cpu (ggml-cpu.h): from_float, vec_dot, vec_dot_type, nrows.
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]


@pytest.mark.parametrize("name", [n for n in MINE if n not in ("Q8_1", "I8", "I16", "I32", "I64", "F64")])
def test_vec_dot_type_is_what_ggml_cpu_converts_activations_to(ggml, name):
    get = ggml.cpu.ggml_get_type_traits_cpu
    get.argtypes = [ctypes.c_int]
    get.restype = ctypes.POINTER(_CpuTraits)
    t = ggml_type(name)
    traits = get(t.id).contents
    assert traits.vec_dot, f"ggml has no CPU dot product for {name}"
    assert ggml.traits(traits.vec_dot_type).name.upper() == t.vec_dot_type.upper()


def test_q8_1_is_activation_only_in_ggml(ggml):
    assert not ggml.has_to_float(9)
    t = ggml_type("Q8_1")
    assert not t.is_weight_type and t.vec_dot_type is None


def test_families_and_descriptions():
    for name in MINE:
        t = ggml_type(name)
        assert t.description.endswith(".") and t.family in ("float", "integer", "legacy", "ternary", "microscaling")
    assert {t.name for t in all_types() if t.family == "microscaling"} >= {"MXFP4", "NVFP4"}


# --- strided, threaded and concurrent input ------------------------------------------


@pytest.mark.parametrize("name", MINE)
def test_strided_blocks_decode_like_contiguous(name):
    t = ggml_type(name)
    rng = np.random.default_rng(11)
    padded = rng.integers(0, 256, size=(300, t.type_size + 5), dtype=np.uint8)
    view = padded[:, 3 : 3 + t.type_size]  # rows 5 bytes apart: not C-contiguous
    assert not view.flags.c_contiguous
    with np.errstate(all="ignore"):
        ours = t.dequantizer(view, "<")
    assert np.array_equal(bits(ours), bits(t.dequantize(np.ascontiguousarray(view))))


@pytest.mark.parametrize("name", ["Q4_0", "Q5_1", "TQ1_0", "NVFP4", "F16"])
def test_threaded_and_single_threaded_results_agree(monkeypatch, name):
    t = ggml_type(name)
    n_blocks = 5 * _kernel._CHUNK_ELEMENTS // t.block_size + 3
    raw = np.random.default_rng(2).integers(0, 256, size=n_blocks * t.type_size, dtype=np.uint8)
    monkeypatch.setattr(_kernel, "THREADS", 1)
    single = t.dequantize(raw)
    monkeypatch.setattr(_kernel, "THREADS", 3)
    threaded = t.dequantize(raw)
    assert np.array_equal(np.isnan(single), np.isnan(threaded))
    assert np.array_equal(bits(single[~np.isnan(single)]), bits(threaded[~np.isnan(threaded)]))


def test_concurrent_callers_get_their_own_results(monkeypatch):
    monkeypatch.setattr(_kernel, "THREADS", 2)
    rng = np.random.default_rng(9)
    jobs = {name: rng.integers(0, 256, size=3 * _kernel._CHUNK_ELEMENTS // ggml_type(name).block_size * ggml_type(name).type_size, dtype=np.uint8)
            for name in ("Q4_0", "Q5_0", "MXFP4", "TQ2_0")}
    expected = {name: ggml_type(name).dequantize(raw) for name, raw in jobs.items()}
    results: dict[str, np.ndarray] = {}

    def run(name: str) -> None:
        for _ in range(3):
            results[name] = ggml_type(name).dequantize(jobs[name])

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for name, value in expected.items():
        same_nan = np.array_equal(np.isnan(value), np.isnan(results[name]))
        assert same_nan and np.array_equal(bits(value[~np.isnan(value)]), bits(results[name][~np.isnan(value)])), name
