"""Element anatomy for the IQ types: where one value's bits live and how they decode.

Each function takes one block as bytes and an element index and recomputes
that element alone, with numpy float32 scalars in ggml's operation order, so
the ``value`` it reports has the same bits as the vectorised dequantizer's.
"""

from __future__ import annotations

import numpy as np

from layoutscope.formats import _iq_tables as tables
from layoutscope.formats._common import read_fp16, read_uint
from layoutscope.formats.float_text import shortest_text
from layoutscope.formats._iq_decode import iq1m_super_scale
from layoutscope.formats.record import BitSource, ElementAnatomy, Term

_F32 = np.float32


def _bits(
    field: str, base: int, lo: int, width: int, what: str, first: int = 0, note: str = ""
) -> list[BitSource]:
    """Sources for bits ``lo .. lo+width-1`` of a little-endian word at byte ``base``.

    They carry bits ``first ..`` of the quantity ``what``; a range that crosses
    a byte boundary becomes one source per byte, each naming its own bits.
    """
    sources = []
    hi = lo + width - 1
    for byte in range(lo // 8, hi // 8 + 1):
        a = max(lo, 8 * byte) - 8 * byte
        b = min(hi, 8 * byte + 7) - 8 * byte
        v0, v1 = first + 8 * byte + a - lo, first + 8 * byte + b - lo
        span = f"bit {v0}" if v0 == v1 else f"bits {v0}..{v1}"
        sources.append(BitSource(field, base + byte, (a, b), f"{what} {span}{note}"))
    return sources


def _ksign_sources(field: str, base: int, lo: int, k: int, sign_index: int) -> list[BitSource]:
    """Where the sign of value ``k`` of an 8-group with a 7-bit ksigns index lives."""
    what = f"sign index {sign_index}"
    if k < 7:
        # ksigns keeps bits 0..6 of its index, so the sign bit is stored as is.
        return _bits(field, base, lo + k, 1, what, k, f": the sign of value {k} of its 8")
    return _bits(field, base, lo, 7, what, 0, ": value 7's sign is the parity of all 7 bits")


def _sign_text(negative: bool) -> str:
    return "(−1)" if negative else "(+1)"


def _signed(value: np.float32, negative: bool) -> np.float32:
    """ggml's ``value * (negative ? -1.f : 1.f)``."""
    return value * (_F32(-1.0) if negative else _F32(1.0))


def _d_term(d: np.float32) -> Term:
    return Term("d", float(d), "fp16 super-block scale", 0, 2)


def _make(element, quant, terms, formula, worked, value) -> ElementAnatomy:
    return ElementAnatomy(element, tuple(quant), tuple(terms), formula, worked, float(value))


def _half_scale_anatomy(d, s, s_at, tail, gi, gi_at, gname, gv, col, mask, sign_bit, negative):
    """Shared arithmetic and text of IQ2_XXS / IQ2_XS / IQ2_S / IQ3_XXS.

    ``s_at`` / ``gi_at`` are the bytes holding the scale and a one-byte grid
    index (None when the index spans bytes).
    """
    with np.errstate(all="ignore"):
        db = d * (_F32(0.5) + _F32(s)) * _F32(tail)
        value = _signed(db * gv, negative)
    terms = [
        _d_term(d),
        Term("s", s, "4-bit group scale", s_at, 1),
        Term("db", float(db), f"d·(0.5 + s)·{tail}"),
        Term("grid index", gi, f"row of {gname}", gi_at, None if gi_at is None else 1),
        Term("grid value", float(gv), f"{gname}[{gi}][{col}]"),
        Term("sign", -1.0 if negative else 1.0, f"bit {sign_bit} of sign mask {mask:#04x}"),
    ]
    formula = f"x = d·(0.5 + s)·{tail} · {gname}[idx][k] · sign"
    worked = (
        f"x = {shortest_text(d)}·(0.5 + {s})·{tail} · {gname}[{gi}][{col}] · sign = "
        f"{shortest_text(db)} · {int(gv)} · {_sign_text(negative)} = {shortest_text(value)}"
    )
    return terms, formula, worked, value


def anatomy_iq2_xxs(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ2_XXS: 4 grid bytes + a u32 of four 7-bit sign indices and a scale per 32 values."""
    ib, r = divmod(e, 32)
    l, k = divmod(r, 8)
    base = 2 + 8 * ib
    gi = block[base + l]
    aux = read_uint(block, base + 4, 4)
    s, sign_index = aux >> 28, (aux >> (7 * l)) & 127
    mask = int(tables.ksigns()[sign_index])
    negative = bool((mask >> k) & 1)
    gv = tables.grid("iq2xxs_grid")[gi, k]
    quant = [
        BitSource("qs", base + l, (0, 7), f"grid index bits 0..7 (byte {8 * ib + l} of qs)"),
        *_ksign_sources("qs", base + 4, 7 * l, k, sign_index),
        BitSource("qs", base + 7, (4, 7), f"4-bit group scale s of values {32 * ib}..{32 * ib + 31}"),
    ]
    terms, formula, worked, value = _half_scale_anatomy(
        read_fp16(block, 0), s, base + 7, 0.25, gi, base + l, "iq2xxs_grid", gv, k, mask, k, negative
    )
    return _make(e, quant, terms, formula, worked, value)


def anatomy_iq2_xs(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ2_XS: a u16 per 8 values (9-bit grid index, 7-bit sign index), a nibble scale per 16."""
    g, k = divmod(e, 8)
    ib, l = divmod(g, 4)
    word = read_uint(block, 2 + 2 * g, 2)
    gi, sign_index = word & 511, word >> 9
    mask = int(tables.ksigns()[sign_index])
    negative = bool((mask >> k) & 1)
    half = l // 2
    s = (block[66 + ib] >> (4 * half)) & 15
    gv = tables.grid("iq2xs_grid")[gi, k]
    quant = [
        *_bits("qs", 2 + 2 * g, 0, 9, "grid index", 0, f" (qs[{g}])"),
        *_ksign_sources("qs", 2 + 2 * g, 9, k, sign_index),
        BitSource(
            "scales", 66 + ib, (4 * half, 4 * half + 3),
            f"4-bit scale s of values {32 * ib + 16 * half}..{32 * ib + 16 * half + 15}",
        ),
    ]
    terms, formula, worked, value = _half_scale_anatomy(
        read_fp16(block, 0), s, 66 + ib, 0.25, gi, None, "iq2xs_grid", gv, k, mask, k, negative
    )
    return _make(e, quant, terms, formula, worked, value)


def anatomy_iq2_s(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ2_S: 10-bit grid index (qs byte + 2 qh bits), an explicit sign byte, a nibble scale per 16."""
    g, k = divmod(e, 8)
    ib, l = divmod(g, 4)
    gi = block[2 + g] | (((block[66 + ib] >> (2 * l)) & 3) << 8)
    mask = block[34 + g]
    negative = bool((mask >> k) & 1)
    half = l // 2
    s = (block[74 + ib] >> (4 * half)) & 15
    gv = tables.grid("iq2s_grid")[gi, k]
    quant = [
        BitSource("qs", 2 + g, (0, 7), f"grid index bits 0..7 (qs[{g}])"),
        BitSource("qh", 66 + ib, (2 * l, 2 * l + 1), f"grid index bits 8..9 (qh[{ib}])"),
        BitSource("qs", 34 + g, (k, k), f"sign bit {k} of sign byte qs[{32 + g}]"),
        BitSource(
            "scales", 74 + ib, (4 * half, 4 * half + 3),
            f"4-bit scale s of values {32 * ib + 16 * half}..{32 * ib + 16 * half + 15}",
        ),
    ]
    terms, formula, worked, value = _half_scale_anatomy(
        read_fp16(block, 0), s, 74 + ib, 0.25, gi, None, "iq2s_grid", gv, k, mask, k, negative
    )
    return _make(e, quant, terms, formula, worked, value)


def anatomy_iq3_xxs(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ3_XXS: a grid byte per 4 values; a u32 per 32 holds four 7-bit sign indices and a scale."""
    ib, r = divmod(e, 32)
    l, k = divmod(r, 8)
    q = 8 * ib + 2 * l + k // 4  # qs byte holding this value's grid index
    gi = block[2 + q]
    base = 66 + 4 * ib
    aux = read_uint(block, base, 4)
    s, sign_index = aux >> 28, (aux >> (7 * l)) & 127
    mask = int(tables.ksigns()[sign_index])
    negative = bool((mask >> k) & 1)
    gv = tables.grid("iq3xxs_grid")[gi, k % 4]
    quant = [
        BitSource("qs", 2 + q, (0, 7), f"grid index (qs[{q}])"),
        *_ksign_sources("qs", base, 7 * l, k, sign_index),
        BitSource("qs", base + 3, (4, 7), f"4-bit group scale s of values {32 * ib}..{32 * ib + 31}"),
    ]
    terms, formula, worked, value = _half_scale_anatomy(
        read_fp16(block, 0), s, base + 3, 0.5, gi, 2 + q, "iq3xxs_grid", gv, k % 4, mask, k, negative
    )
    return _make(e, quant, terms, formula, worked, value)


def anatomy_iq3_s(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ3_S: 9-bit grid index per 4 values (qs byte + qh bit), explicit sign bits, odd scales."""
    t, j = divmod(e, 4)
    ib, k = divmod(t, 8)
    gi = block[2 + t] | (((block[66 + ib] >> k) & 1) << 8)
    sign_byte, sign_bit = 74 + t // 2, 4 * (t % 2) + j
    mask = block[sign_byte]
    negative = bool((mask >> sign_bit) & 1)
    s = (block[106 + ib // 2] >> (4 * (ib % 2))) & 15
    gv = tables.grid("iq3s_grid")[gi, j]
    d = read_fp16(block, 0)
    with np.errstate(all="ignore"):
        db = d * _F32(1 + 2 * s)
        value = _signed(db * gv, negative)
    quant = [
        BitSource("qs", 2 + t, (0, 7), f"grid index bits 0..7 (qs[{t}])"),
        BitSource("qh", 66 + ib, (k, k), f"grid index bit 8 (bit {k} of qh[{ib}])"),
        BitSource("signs", sign_byte, (sign_bit, sign_bit), f"sign bit {sign_bit} of signs[{t // 2}]"),
        BitSource(
            "scales", 106 + ib // 2, (4 * (ib % 2), 4 * (ib % 2) + 3),
            f"4-bit scale s of values {32 * ib}..{32 * ib + 31}",
        ),
    ]
    terms = [
        _d_term(d),
        Term("s", s, "4-bit group scale", 106 + ib // 2, 1),
        Term("db", float(db), "d·(1 + 2·s)"),
        Term("grid index", gi, "row of iq3s_grid"),
        Term("grid value", float(gv), f"iq3s_grid[{gi}][{j}]"),
        Term("sign", -1.0 if negative else 1.0, f"bit {sign_bit} of sign byte {mask:#04x}"),
    ]
    formula = "x = d·(1 + 2·s) · iq3s_grid[idx][j] · sign"
    worked = (
        f"x = {shortest_text(d)}·(1 + 2·{s}) · iq3s_grid[{gi}][{j}] · sign = "
        f"{shortest_text(db)} · {int(gv)} · {_sign_text(negative)} = {shortest_text(value)}"
    )
    return _make(e, quant, terms, formula, worked, value)


def _iq1_value(d, s, gv, negative_delta):
    """ggml's ``d * (2*s + 1)`` then ``dl * (grid + delta)``, in float32."""
    delta = -tables.IQ1_DELTA if negative_delta else tables.IQ1_DELTA
    with np.errstate(all="ignore"):
        dl = d * _F32(2 * s + 1)
        shifted = gv + delta
        value = dl * shifted
    return dl, delta, shifted, value


def _iq1_text(d, s, s_at, gi, k, gv, dl, delta, shifted, value, d_source, d_at):
    terms = [
        Term("d", float(d), d_source, *d_at),
        Term("s", s, "3-bit scale", *s_at),
        Term("dl", float(dl), "d·(2·s + 1)"),
        Term("grid index", gi, "row of iq1s_grid"),
        Term("grid value", float(gv), f"iq1s_grid[{gi}][{k}]"),
        Term("delta", float(delta), "±0.125, negative when the delta bit is set"),
    ]
    formula = "x = d·(2·s + 1) · (iq1s_grid[idx][k] + delta)"
    worked = (
        f"x = {shortest_text(d)}·(2·{s} + 1) · ({int(gv)} + {shortest_text(delta)}) = "
        f"{shortest_text(dl)} · {shortest_text(shifted)} = {shortest_text(value)}"
    )
    return terms, formula, worked


def anatomy_iq1_s(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ1_S: 11-bit index into the ±1/0 grid, a shared ±1/8 shift and 3-bit scale per 32."""
    ib, r = divmod(e, 32)
    l, k = divmod(r, 8)
    qh_at = 34 + 2 * ib
    qh = read_uint(block, qh_at, 2)
    gi = block[2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)
    s, negative_delta = (qh >> 12) & 7, bool(qh & 0x8000)
    gv = tables.grid("iq1s_grid")[gi, k]
    d = read_fp16(block, 0)
    dl, delta, shifted, value = _iq1_value(d, s, gv, negative_delta)
    quant = [
        BitSource("qs", 2 + 4 * ib + l, (0, 7), f"grid index bits 0..7 (qs[{4 * ib + l}])"),
        *_bits("qh", qh_at, 3 * l, 3, "grid index", 8, f" (qh[{ib}])"),
        BitSource("qh", qh_at + 1, (4, 6), f"3-bit scale s of values {32 * ib}..{32 * ib + 31}"),
        BitSource("qh", qh_at + 1, (7, 7), "delta sign bit (set: −0.125)"),
    ]
    terms, formula, worked = _iq1_text(
        d, s, (qh_at + 1, 1), gi, k, gv, dl, delta, shifted, value, "fp16 super-block scale", (0, 2)
    )
    return _make(e, quant, terms, formula, worked, value)


def anatomy_iq1_m(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ1_M: as IQ1_S with a qh nibble per 8 values, a 3-bit scale per 16, d in the scale words."""
    g, k = divmod(e, 8)
    nib_shift = 4 * (g % 2)
    nibble = (block[32 + g // 2] >> nib_shift) & 15
    gi = block[g] | ((nibble & 7) << 8)
    negative_delta = bool(nibble & 8)
    t = e // 16
    words = np.frombuffer(block, "<u2", 4, 48)
    s = (int(words[t // 4]) >> (3 * (t % 4))) & 7
    d = _F32(iq1m_super_scale(words))
    gv = tables.grid("iq1s_grid")[gi, k]
    dl, delta, shifted, value = _iq1_value(d, s, gv, negative_delta)
    quant = [
        BitSource("qs", g, (0, 7), f"grid index bits 0..7 (qs[{g}])"),
        BitSource("qh", 32 + g // 2, (nib_shift, nib_shift + 2), f"grid index bits 8..10 (qh[{g // 2}])"),
        BitSource("qh", 32 + g // 2, (nib_shift + 3, nib_shift + 3), "delta sign bit (set: −0.125)"),
        *_bits(
            "scales", 48 + 2 * (t // 4), 3 * (t % 4), 3,
            "3-bit scale s", 0, f" of values {16 * t}..{16 * t + 15}",
        ),
    ]
    terms, formula, worked = _iq1_text(
        d, s, (48 + 2 * (t // 4), 2), gi, k, gv, dl, delta, shifted, value,
        "fp16 assembled from the top 4 bits of the 4 scale words", (48, 8),
    )
    return _make(e, quant, terms, formula, worked, value)


def _iq4_parts(code: int, d_like: np.float32):
    kv = _F32(tables.KVALUES_IQ4NL[code])
    with np.errstate(all="ignore"):
        return kv, d_like * kv


def anatomy_iq4_nl(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ4_NL: a nibble per value into kvalues_iq4nl, one fp16 scale per 32."""
    byte, high = 2 + e % 16, e >= 16
    code = (block[byte] >> (4 if high else 0)) & 15
    d = read_fp16(block, 0)
    kv, value = _iq4_parts(code, d)
    half = "high" if high else "low"
    quant = [BitSource("qs", byte, (4, 7) if high else (0, 3), f"4-bit code ({half} nibble of qs[{e % 16}])")]
    terms = [
        Term("d", float(d), "fp16 block scale", 0, 2),
        Term("code", code, "4-bit index into kvalues_iq4nl", byte, 1),
        Term("kvalue", float(kv), f"kvalues_iq4nl[{code}]"),
    ]
    worked = (f"x = {shortest_text(d)} · kvalues_iq4nl[{code}] = "
              f"{shortest_text(d)} · {int(kv)} = {shortest_text(value)}")
    return _make(e, quant, terms, "x = d · kvalues_iq4nl[code]", worked, value)


def anatomy_iq4_xs(block: bytes, e: int, byteorder: str = "<") -> ElementAnatomy:
    """IQ4_XS: a nibble per value into kvalues_iq4nl, a 6-bit scale per 32 (4 + 2 bits)."""
    ib, r = divmod(e, 32)
    byte, high = 8 + 16 * ib + r % 16, r >= 16
    code = (block[byte] >> (4 if high else 0)) & 15
    low_at, low_shift = 4 + ib // 2, 4 * (ib % 2)
    ls_low = (block[low_at] >> low_shift) & 15
    ls_high = (read_uint(block, 2, 2) >> (2 * ib)) & 3
    ls = ls_low | (ls_high << 4)
    d = read_fp16(block, 0)
    with np.errstate(all="ignore"):
        dl = d * _F32(ls - 32)
    kv, value = _iq4_parts(code, dl)
    half = "high" if high else "low"
    span = f"values {32 * ib}..{32 * ib + 31}"
    quant = [
        BitSource("qs", byte, (4, 7) if high else (0, 3), f"4-bit code ({half} nibble of qs[{byte - 8}])"),
        BitSource("scales_l", low_at, (low_shift, low_shift + 3), f"scale bits 0..3 of {span}"),
        BitSource("scales_h", 2 + ib // 4, (2 * (ib % 4), 2 * (ib % 4) + 1), f"scale bits 4..5 of {span}"),
    ]
    terms = [
        _d_term(d),
        Term("ls", ls, "6-bit scale: scales_l nibble | scales_h bits << 4"),
        Term("dl", float(dl), "d·(ls − 32)"),
        Term("code", code, "4-bit index into kvalues_iq4nl", byte, 1),
        Term("kvalue", float(kv), f"kvalues_iq4nl[{code}]"),
    ]
    worked = (
        f"x = {shortest_text(d)}·({ls} − 32) · kvalues_iq4nl[{code}] = "
        f"{shortest_text(dl)} · {int(kv)} = {shortest_text(value)}"
    )
    return _make(e, quant, terms, "x = d·(ls − 32) · kvalues_iq4nl[code]", worked, value)
