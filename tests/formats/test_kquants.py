"""K-quant specifics the registry-wide tests do not reach.

Chunk boundaries and strided inputs of the vectorised decoders, that every
anatomy points at exactly the bits that set its element, hand-built blocks
whose sub-block numbering is known, and the exactness argument that makes
the result independent of fused multiply-adds in the compiled ggml.
"""

from __future__ import annotations

import numpy as np
import pytest

from layoutscope.formats import ggml_type

K_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a_nan, b_nan = np.isnan(a), np.isnan(b)
    return bool(
        np.array_equal(a_nan, b_nan)
        and np.array_equal(a[~a_nan].view(np.uint32), b[~b_nan].view(np.uint32))
    )


@pytest.mark.parametrize("name", K_TYPES)
def test_several_chunks_and_a_partial_one_match_ggml(name, ggml):
    """run_kernel hands kernels chunks of 2048 K-quant blocks; cross two boundaries."""
    t = ggml_type(name)
    n = 2 * 2048 + 3
    blocks = np.random.default_rng(t.id).integers(0, 256, (n, t.type_size), dtype=np.uint8)
    ours = t.dequantize(blocks.reshape(-1))
    assert _same_bits(ours, ggml.to_float(t.id, blocks, n * t.block_size))


@pytest.mark.parametrize("name", K_TYPES)
def test_strided_block_views_decode_like_a_copy(name):
    """Rows of an mmap are often views whose stride exceeds the bytes taken."""
    t = ggml_type(name)
    wide = np.random.default_rng(3).integers(0, 256, (40, 3 * t.type_size + 5), dtype=np.uint8)
    blocks = wide[::3, t.type_size : 2 * t.type_size]
    assert not blocks.flags.c_contiguous
    assert _same_bits(t.dequantizer(blocks, "<"), t.dequantizer(np.ascontiguousarray(blocks), "<"))
    rows = wide[:, : 3 * t.type_size]
    assert _same_bits(t.dequantize(rows), t.dequantize(np.ascontiguousarray(rows)))


# -- anatomy locations ------------------------------------------------------------

_FP16_ONE = (0x00, 0x3C)


def _unit_scale_block(name: str, seed: int) -> np.ndarray:
    """Random codes under non-zero scales with d = 1 and no min, so every code bit shows."""
    t = ggml_type(name)
    block = np.random.default_rng(seed).integers(0, 256, t.type_size, dtype=np.uint8)
    fields = {f.name: f for f in t.fields}

    def put(field, values):
        f = fields[field]
        block[f.offset : f.end] = values

    if name == "Q8_K":
        put("d", np.array([1.0], "<f4").view(np.uint8))
        return block
    put("d", _FP16_ONE)
    if "dmin" in fields:
        put("dmin", (0, 0))
    # Q2_K: scale nibble 1, min nibble 0; Q3_K: stored 0 means scale −32;
    # Q4_K/Q5_K: every scale 1; Q6_K: every int8 scale 1.
    put("scales", {"Q2_K": 0x01, "Q3_K": 0x00, "Q4_K": 0x01, "Q5_K": 0x01, "Q6_K": 0x01}[name])
    return block


_CODE_FIELDS = {
    "Q2_K": ("qs",),
    "Q3_K": ("hmask", "qs"),
    "Q4_K": ("qs",),
    "Q5_K": ("qh", "qs"),
    "Q6_K": ("ql", "qh"),
    "Q8_K": ("qs",),
}


@pytest.mark.parametrize("name", K_TYPES)
@pytest.mark.parametrize("element", [0, 15, 16, 37, 100, 143, 200, 255])
def test_bit_sources_are_exactly_the_bits_that_set_the_element(name, element):
    """Flipping a bit the anatomy names changes the element; flipping any other code bit does not."""
    t = ggml_type(name)
    block = _unit_scale_block(name, seed=element)
    anatomy = t.anatomy(block.tobytes(), element)
    named = set()
    for src in anatomy.quant:
        lo, hi = src.bits if src.bits is not None else (0, 8 * src.size - 1)
        named |= {(src.byte + bit // 8, bit % 8) for bit in range(lo, hi + 1)}

    candidates = [
        (byte, bit)
        for f in t.fields
        if f.name in _CODE_FIELDS[name]
        for byte in range(f.offset, f.end)
        for bit in range(8)
    ]
    flipped = np.repeat(block[None, :], len(candidates), axis=0)
    for row, (byte, bit) in enumerate(candidates):
        flipped[row, byte] ^= 1 << bit
    base = t.dequantize(block)[element]
    changed = t.dequantize(flipped)[:, element] != base
    moved = {cand for cand, did in zip(candidates, changed) if did}
    assert named <= set(candidates), f"{name}: anatomy names bits outside the code fields"
    assert moved == named


# -- hand-built blocks with known numbering ---------------------------------------


def _pack_k4_scales(sc: list[int], m: list[int]) -> bytes:
    """The 12 scale bytes of Q4_K/Q5_K, packed as the reference describes."""
    out = bytearray(12)
    for j in range(4):
        out[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
        out[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6)
        out[j + 8] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4)
    return bytes(out)


def _q4_k_block():
    sc = [20 + j for j in range(8)]
    m = [40 + j for j in range(8)]
    d, dmin = np.array(0.5, "<f2"), np.array(0.25, "<f2")
    qs = bytes((37 * i + 11) % 256 for i in range(128))
    block = d.tobytes() + dmin.tobytes() + _pack_k4_scales(sc, m) + qs
    return block, sc, m, qs


def test_q4_k_dequantizes_by_the_documented_sub_block_numbering():
    block, sc, m, qs = _q4_k_block()
    values = ggml_type("Q4_K").dequantize(np.frombuffer(block, np.uint8))
    expected = []
    for e in range(256):
        c, half, l, j = e // 64, (e // 32) % 2, e % 32, e // 32
        q = (qs[32 * c + l] >> (4 * half)) & 15
        expected.append(0.5 * sc[j] * q - 0.25 * m[j])  # exact in float32 here
    assert values.tolist() == expected


@pytest.mark.parametrize(
    "element, sub_block, nibble, scale_bytes, min_bytes",
    [
        (5, 0, "low", ["scales[0]"], ["scales[4]"]),
        (200, 6, "low", ["scales[10]", "scales[2]"], ["scales[10]", "scales[6]"]),
        (232, 7, "high", ["scales[11]", "scales[3]"], ["scales[11]", "scales[7]"]),
    ],
)
def test_q4_k_anatomy_names_the_sub_block_scale_and_min(element, sub_block, nibble, scale_bytes, min_bytes):
    block, sc, m, qs = _q4_k_block()
    a = ggml_type("Q4_K").anatomy(block, element)
    terms = {term.name: term for term in a.terms}
    assert terms["sc"].value == sc[sub_block] and terms["m"].value == m[sub_block]
    assert f"sub-block {sub_block}" in terms["sc"].source
    assert all(s in terms["sc"].source for s in scale_bytes)
    assert all(s in terms["m"].source for s in min_bytes)
    index = 32 * (element // 64) + element % 32
    (src,) = a.quant
    assert (src.field, src.byte) == ("qs", 16 + index)
    assert src.bits == ((0, 3) if nibble == "low" else (4, 7))
    assert f"{nibble} nibble of qs[{index}]" in src.role
    q = (qs[index] >> (0 if nibble == "low" else 4)) & 15
    assert terms["q"].value == q
    assert a.value == 0.5 * sc[sub_block] * q - 0.25 * m[sub_block]


@pytest.mark.parametrize("high_bit, offset", [(1, 0), (0, -4)])
def test_q3_k_high_bit_clear_means_minus_four(high_bit, offset):
    t = ggml_type("Q3_K")
    block = bytearray(110)
    block[108:110] = np.array(1.0, "<f2").tobytes()  # d = 1; stored scales 0 mean −32
    element = 37  # h=0, j=1, p=0, l=5: low bits 2..3 of qs[5], high bit 1 of hmask[5]
    block[32 + 5] = 0b10 << 2
    block[5] = high_bit << 1
    a = t.anatomy(bytes(block), element)
    q = 2 + offset
    assert {term.name: term.value for term in a.terms}["q"] == q
    assert [(s.field, s.byte, s.bits) for s in a.quant] == [("qs", 37, (2, 3)), ("hmask", 5, (1, 1))]
    assert a.value == -32.0 * q == t.dequantize(np.frombuffer(bytes(block), np.uint8))[element]


# -- why fused multiply-adds cannot change the result -------------------------------


def _finite_fp16() -> np.ndarray:
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    return every[np.isfinite(every)].astype(np.float32)


@pytest.mark.parametrize(
    "scales, codes",
    [
        (np.array([1, 37, 63]), np.array([1, 15, 31])),  # Q2_K/Q4_K/Q5_K: 6-bit scale, up to 5-bit code
        (np.array([-128, -97, 127]), np.array([-32, -29, 31])),  # Q6_K: int8 scale, 6-bit signed code
    ],
)
def test_products_before_the_last_rounding_are_exact(scales, codes):
    """d·sc·q is exact in float32, so ggml's d1*q - m1 rounds once with or without FMA."""
    d = _finite_fp16()[:, None, None]
    sc = scales.astype(np.float32)[None, :, None]
    q = codes.astype(np.float32)[None, None, :]
    in_f32 = (d * sc) * q
    exact = (d.astype(np.float64) * sc) * q
    assert np.array_equal(in_f32.astype(np.float64), exact)
