"""Element anatomy for the K-quants: where one element's bits live and how they combine.

Each explainer decodes a single element of a single block with scalar code,
written independently of the vectorised decoders so that the two check each
other. Values are computed in numpy float32 in ggml's operation order, so the
``value`` of an anatomy is bit-identical to the dequantized element.

Numbering used in the texts: sub-blocks are numbered from 0 in element order
(sub-block ``j`` of Q4_K covers elements ``32j .. 32j+31``; of Q2_K, Q3_K and
Q6_K, elements ``16j .. 16j+15``); ``qs[i]`` means byte ``i`` of field ``qs``, and
"byte N" is the offset from the start of the block.
"""

from __future__ import annotations

import numpy as np

from layoutscope.formats._common import hex_bytes, read_f32, read_fp16
from layoutscope.formats.float_text import shortest_text
from layoutscope.formats.record import BitSource, ElementAnatomy, Term

_F32 = np.float32


def _half_term(name: str, block: bytes, offset: int, meaning: str) -> Term:
    value = read_fp16(block, offset)
    return Term(
        name,
        float(value),
        f"fp16 @{offset}..{offset + 1} (bytes {hex_bytes(block, offset, 2)}): {meaning}",
        byte=offset,
        size=2,
    )


def _factor(x) -> str:
    """A number as a factor in worked text: negatives in parentheses."""
    text = str(x) if isinstance(x, int) else shortest_text(x)
    return f"({text})" if text.startswith("-") else text


def _int8(byte_value: int) -> int:
    return byte_value - 256 if byte_value > 127 else byte_value


def _nibble(byte_value: int, high: bool) -> int:
    return (byte_value >> 4) & 0x0F if high else byte_value & 0x0F


def _scale_min_k4(block: bytes, base: int, j: int) -> tuple[int, int, str, str, int, int]:
    """Scale and min of Q4_K/Q5_K sub-block ``j`` from the 12 bytes at ``base``.

    Returns (sc, m, scale source, min source, byte of sc, byte of m).
    """
    s = block[base : base + 12]
    if j < 4:
        sc, m = s[j] & 63, s[j + 4] & 63
        sc_src = f"low 6 bits of scales[{j}] (byte {base + j})"
        m_src = f"low 6 bits of scales[{j + 4}] (byte {base + j + 4})"
        return sc, m, sc_src, m_src, base + j, base + j + 4
    sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
    sc_src = (
        f"low 4 bits of scales[{j + 4}] (byte {base + j + 4}), "
        f"top 2 bits of scales[{j - 4}] (byte {base + j - 4})"
    )
    m_src = (
        f"high 4 bits of scales[{j + 4}] (byte {base + j + 4}), "
        f"top 2 bits of scales[{j}] (byte {base + j})"
    )
    return sc, m, sc_src, m_src, base + j + 4, base + j + 4


def _minus_min(d, sc, q, dmin, m) -> tuple[np.float32, np.float32, np.float32]:
    # ggml: d1 = d*sc and m1 = dmin*m in float32, then d1*q - m1.
    with np.errstate(all="ignore"):
        d1 = _F32(d) * _F32(sc)
        m1 = _F32(dmin) * _F32(m)
        return d1, m1, d1 * _F32(q) - m1


def _worked_minus_min(d, sc, q, dmin, m, d1, m1, value) -> str:
    f = _factor
    return f"x = {f(d)}·{sc}·{q} − {f(dmin)}·{m} = {f(d1)}·{q} − {f(m1)} = {shortest_text(value)}"


def _q2_q3_position(element: int) -> tuple[int, int, int, int]:
    """(h, j, p, l) with element = 128h + 32j + 16p + l."""
    return element // 128, (element % 128) // 32, (element % 32) // 16, element % 16


def explain_q2_k(block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
    """Anatomy of one Q2_K element: 2-bit code, 4-bit scale and 4-bit min of its sub-block."""
    h, j, p, l = _q2_q3_position(element)
    index = 32 * h + 16 * p + l
    byte = 16 + index
    q = (block[byte] >> (2 * j)) & 3
    k = element // 16
    sc, m = block[k] & 0x0F, block[k] >> 4
    d, dmin = read_fp16(block, 80), read_fp16(block, 82)
    d1, m1, value = _minus_min(d, sc, q, dmin, m)
    role = f"bits {2 * j}..{2 * j + 1} of qs[{index}] (byte {byte})"
    return ElementAnatomy(
        element=element,
        quant=(BitSource("qs", byte, (2 * j, 2 * j + 1), role),),
        terms=(
            _half_term("d", block, 80, "super-block scale for the sub-block scales"),
            _half_term("dmin", block, 82, "super-block scale for the sub-block mins"),
            Term("sc", sc, f"4-bit scale of sub-block {k}: low nibble of scales[{k}] (byte {k})", k, 1),
            Term("m", m, f"4-bit min of sub-block {k}: high nibble of scales[{k}] (byte {k})", k, 1),
            Term("q", q, f"2-bit code: {role}", byte, 1),
        ),
        formula="x = d·sc·q − dmin·m",
        worked=_worked_minus_min(d, sc, q, dmin, m, d1, m1, value),
        value=float(value),
    )


def explain_q3_k(block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
    """Anatomy of one Q3_K element: 2 low bits, a high bit, and a signed 6-bit sub-block scale."""
    h, j, p, l = _q2_q3_position(element)
    index = 32 * h + 16 * p + l
    byte = 32 + index
    low = (block[byte] >> (2 * j)) & 3
    mask_index = 16 * p + l
    bit = 4 * h + j
    high = (block[mask_index] >> bit) & 1
    q = low - (0 if high else 4)
    k = element // 16
    scales = 96
    if k < 8:
        low4, low_src = block[scales + k] & 0x0F, f"low 4 bits of scales[{k}] (byte {scales + k})"
        low_byte = scales + k
    else:
        low4 = block[scales + k - 8] >> 4
        low_src = f"high 4 bits of scales[{k - 8}] (byte {scales + k - 8})"
        low_byte = scales + k - 8
    top_index = 8 + k % 4
    top_shift = 2 * (k // 4)
    top2 = (block[scales + top_index] >> top_shift) & 3
    sc = low4 | (top2 << 4)
    d = read_fp16(block, 108)
    with np.errstate(all="ignore"):
        dl = d * _F32(sc - 32)
        value = dl * _F32(q)
    low_role = f"low 2 bits: bits {2 * j}..{2 * j + 1} of qs[{index}] (byte {byte})"
    high_role = f"high bit: hmask[{mask_index}] bit {bit} ({'set, no offset' if high else 'clear, minus 4'})"
    return ElementAnatomy(
        element=element,
        quant=(
            BitSource("qs", byte, (2 * j, 2 * j + 1), low_role),
            BitSource("hmask", mask_index, (bit, bit), high_role),
        ),
        terms=(
            _half_term("d", block, 108, "super-block scale"),
            Term(
                "sc",
                sc,
                f"6-bit scale of sub-block {k}, stored +32: {low_src}, "
                f"bits {top_shift}..{top_shift + 1} of scales[{top_index}] (byte {scales + top_index})",
                low_byte,
                1,
            ),
            Term("q", q, f"3-bit code {low} − {0 if high else 4}: {low_role}; {high_role}", byte, 1),
        ),
        formula="x = d·(sc − 32)·q,  q = low 2 bits − (high bit ? 0 : 4)",
        worked=f"x = {_factor(d)}·({sc} − 32)·{_factor(q)} = {_factor(dl)}·{_factor(q)} = {shortest_text(value)}",
        value=float(value),
    )


def _k4_position(element: int) -> tuple[int, int, int, int]:
    """(chunk c, half, l, sub-block j) with element = 64c + 32·half + l and j = 2c + half."""
    return element // 64, (element // 32) % 2, element % 32, element // 32


def explain_q4_k(block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
    """Anatomy of one Q4_K element: 4-bit code, 6-bit scale and 6-bit min of its sub-block."""
    c, half, l, j = _k4_position(element)
    index = 32 * c + l
    byte = 16 + index
    q = _nibble(block[byte], bool(half))
    sc, m, sc_src, m_src, sc_byte, m_byte = _scale_min_k4(block, 4, j)
    d, dmin = read_fp16(block, 0), read_fp16(block, 2)
    d1, m1, value = _minus_min(d, sc, q, dmin, m)
    role = f"{'high' if half else 'low'} nibble of qs[{index}] (byte {byte})"
    return ElementAnatomy(
        element=element,
        quant=(BitSource("qs", byte, (4 * half, 4 * half + 3), role),),
        terms=(
            _half_term("d", block, 0, "super-block scale for the sub-block scales"),
            _half_term("dmin", block, 2, "super-block scale for the sub-block mins"),
            Term("sc", sc, f"6-bit scale of sub-block {j}: {sc_src}", sc_byte, 1),
            Term("m", m, f"6-bit min of sub-block {j}: {m_src}", m_byte, 1),
            Term("q", q, f"4-bit code: {role}", byte, 1),
        ),
        formula="x = d·sc·q − dmin·m",
        worked=_worked_minus_min(d, sc, q, dmin, m, d1, m1, value),
        value=float(value),
    )


def explain_q5_k(block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
    """Anatomy of one Q5_K element: a nibble plus a fifth bit, with its sub-block's scale and min."""
    c, half, l, j = _k4_position(element)
    index = 32 * c + l
    byte = 48 + index
    nibble = _nibble(block[byte], bool(half))
    bit = 2 * c + half
    fifth = (block[16 + l] >> bit) & 1
    q = nibble | (fifth << 4)
    sc, m, sc_src, m_src, sc_byte, m_byte = _scale_min_k4(block, 4, j)
    d, dmin = read_fp16(block, 0), read_fp16(block, 2)
    d1, m1, value = _minus_min(d, sc, q, dmin, m)
    low_role = f"low 4 bits: {'high' if half else 'low'} nibble of qs[{index}] (byte {byte})"
    high_role = f"5th bit: qh[{l}] bit {bit} (byte {16 + l})"
    return ElementAnatomy(
        element=element,
        quant=(
            BitSource("qs", byte, (4 * half, 4 * half + 3), low_role),
            BitSource("qh", 16 + l, (bit, bit), high_role),
        ),
        terms=(
            _half_term("d", block, 0, "super-block scale for the sub-block scales"),
            _half_term("dmin", block, 2, "super-block scale for the sub-block mins"),
            Term("sc", sc, f"6-bit scale of sub-block {j}: {sc_src}", sc_byte, 1),
            Term("m", m, f"6-bit min of sub-block {j}: {m_src}", m_byte, 1),
            Term("q", q, f"5-bit code {nibble} + 16·{fifth}: {low_role}; {high_role}", byte, 1),
        ),
        formula="x = d·sc·q − dmin·m,  q = nibble + 16·(5th bit)",
        worked=_worked_minus_min(d, sc, q, dmin, m, d1, m1, value),
        value=float(value),
    )


def explain_q6_k(block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
    """Anatomy of one Q6_K element: 4 + 2 code bits and the signed 8-bit scale of its sub-block."""
    h, g, l = element // 128, (element % 128) // 32, element % 32
    high_nibble = g >= 2
    ql_index = 64 * h + 32 * (g % 2) + l
    qh_index = 32 * h + l
    qh_byte = 128 + qh_index
    nibble = _nibble(block[ql_index], high_nibble)
    top2 = (block[qh_byte] >> (2 * g)) & 3
    code = nibble | (top2 << 4)
    k = element // 16
    sc = _int8(block[192 + k])
    d = read_fp16(block, 208)
    with np.errstate(all="ignore"):
        dsc = d * _F32(sc)
        value = dsc * _F32(code - 32)
    low_role = f"low 4 bits: {'high' if high_nibble else 'low'} nibble of ql[{ql_index}] (byte {ql_index})"
    high_role = f"high 2 bits: bits {2 * g}..{2 * g + 1} of qh[{qh_index}] (byte {qh_byte})"
    return ElementAnatomy(
        element=element,
        quant=(
            BitSource("ql", ql_index, (4, 7) if high_nibble else (0, 3), low_role),
            BitSource("qh", qh_byte, (2 * g, 2 * g + 1), high_role),
        ),
        terms=(
            _half_term("d", block, 208, "super-block scale"),
            Term("sc", sc, f"int8 scale of sub-block {k}: scales[{k}] (byte {192 + k})", 192 + k, 1),
            Term("q", code, f"6-bit code {nibble} + 16·{top2}: {low_role}; {high_role}", ql_index, 1),
        ),
        formula="x = d·sc·(q − 32)",
        worked=(
            f"x = {_factor(d)}·{_factor(sc)}·({code} − 32) = {_factor(dsc)}·{_factor(code - 32)}"
            f" = {shortest_text(value)}"
        ),
        value=float(value),
    )


def explain_q8_k(block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
    """Anatomy of one Q8_K element: an int8 code times the block's float32 scale."""
    byte = 4 + element
    q = _int8(block[byte])
    d = read_f32(block, 0)
    with np.errstate(all="ignore"):
        value = d * _F32(q)
    return ElementAnatomy(
        element=element,
        quant=(BitSource("qs", byte, None, f"int8 qs[{element}] (byte {byte})", 1),),
        terms=(
            Term("d", float(d), f"f32 @0..3 (bytes {hex_bytes(block, 0, 4)}): block scale", 0, 4),
            Term("q", q, f"int8 qs[{element}] (byte {byte})", byte, 1),
        ),
        formula="x = d·q",
        worked=f"x = {_factor(d)}·{_factor(q)} = {shortest_text(value)}",
        value=float(value),
    )
