"""The legacy 32-element block types and their small cousins.

Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, the activation-only Q8_1, and the newer
one-scale formats Q1_0 (128 sign bits) and Q2_0 (64 two-bit codes). Every
block is an fp16 scale (plus, for the ``_1`` variants, an fp16 offset)
followed by packed integer codes.

Kernels run through :mod:`._kernel`'s chunked driver.
"""

from __future__ import annotations

import numpy as np

from layoutscope.formats._common import half_term, nibble_source, plus, quiet
from layoutscope.formats.float_text import shortest_text
from layoutscope.formats._kernel import Kernel, half_column, kernel_record, move_runs, nibble_planes, scratch
from layoutscope.formats.record import BitSource, ElementAnatomy, Field, GGMLType, Term

def _nibble_of(block: bytes, field_offset: int, element: int, half: int) -> tuple[int, int, bool]:
    """(code, byte index in field, is_high) of ``element`` in a Q4_0-order nibble field of ``half`` bytes."""
    index = element % half
    high = element >= half
    byte = block[field_offset + index]
    return (byte >> 4) if high else (byte & 0x0F), index, high


# --- Q4_0 / Q4_1 -------------------------------------------------------------


def _q4_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    planes = nibble_planes(blocks)
    planes -= 8  # wraps to the int8 bit pattern of q − 8
    codes = planes.view(np.int8)
    np.copyto(out[:, :16], codes[0, :, 2:], casting="unsafe")
    np.copyto(out[:, 16:], codes[1, :, 2:], casting="unsafe")
    out *= d


def _q4_1_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    m = half_column(blocks, 2)
    planes = nibble_planes(blocks)
    np.copyto(out[:, :16], planes[0, :, 4:], casting="unsafe")
    np.copyto(out[:, 16:], planes[1, :, 4:], casting="unsafe")
    # d·q is exact in float32 (11-bit d times a 4-bit q), so ggml's order
    # d·q + m gives the same bits whether or not its compiler fused it.
    out *= d
    out += m


def _q4_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    q, index, high = _nibble_of(block, 2, element, 16)
    source = nibble_source("qs", 2, index, high)
    value = np.float32(q - 8) * d
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("q", q, source.role, byte=source.byte, size=1)),
        formula="x = d·(q − 8)",
        worked=f"x = {shortest_text(d)}·({q} − 8) = {shortest_text(value)}",
        value=float(value),
    )


def _q4_1_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    m, m_term = half_term(block, 2, "m", "block minimum")
    q, index, high = _nibble_of(block, 4, element, 16)
    source = nibble_source("qs", 4, index, high)
    value = np.float32(q) * d + m
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, m_term, Term("q", q, source.role, byte=source.byte, size=1)),
        formula="x = d·q + m",
        worked=f"x = {shortest_text(d)}·{q} {plus(m)} = {shortest_text(value)}",
        value=float(value),
    )


# --- Q5_0 / Q5_1 -------------------------------------------------------------


def _q5_codes(blocks: np.ndarray, qh_offset: int) -> np.ndarray:
    """5-bit codes q (uint8 (k, 32)) of a Q5_0/Q5_1 chunk."""
    # Little bit order over the 4 qh bytes is bit j of the little-endian u32.
    high = np.unpackbits(blocks[:, qh_offset : qh_offset + 4], axis=1, bitorder="little")
    high *= 16  # numpy's uint8 multiply is vectorised, its left shift is not
    planes = nibble_planes(blocks)
    qs = qh_offset + 4
    codes = scratch("codes", high.shape)
    # Re-ordering copies, then whole-array passes: cheaper than per-row ORs.
    move_runs(codes[:, :16], planes[0, :, qs:])
    move_runs(codes[:, 16:], planes[1, :, qs:])
    codes |= high
    return codes


def _q5_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    codes = _q5_codes(blocks, 2)
    codes -= 16  # wraps to the int8 bit pattern of q − 16
    np.copyto(out, codes.view(np.int8), casting="unsafe")
    out *= d


def _q5_1_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    m = half_column(blocks, 2)
    np.copyto(out, _q5_codes(blocks, 4), casting="unsafe")
    out *= d  # exact, as in Q4_1
    out += m


def _q5_parts(block: bytes, element: int, qh_offset: int) -> tuple[int, int, int, tuple[BitSource, BitSource]]:
    qs_offset = qh_offset + 4
    nibble, index, high = _nibble_of(block, qs_offset, element, 16)
    qh = int.from_bytes(block[qh_offset : qh_offset + 4], "little")
    bit = (qh >> element) & 1
    sources = (
        nibble_source("qs", qs_offset, index, high),
        BitSource(
            "qh",
            qh_offset + element // 8,
            (element % 8, element % 8),
            f"5th bit (qh bit {element} = bit {element % 8} of qh[{element // 8}])",
        ),
    )
    return nibble, bit, nibble | (bit << 4), sources


def _q5_terms(nibble: int, bit: int, q: int, sources) -> tuple[Term, ...]:
    return (
        Term("n", nibble, sources[0].role, byte=sources[0].byte, size=1),
        Term("h", bit, sources[1].role, byte=sources[1].byte, size=1),
        Term("q", q, "q = n + 16·h"),
    )


def _q5_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    nibble, bit, q, sources = _q5_parts(block, element, 2)
    value = np.float32(q - 16) * d
    return ElementAnatomy(
        element=element,
        quant=sources,
        terms=(d_term,) + _q5_terms(nibble, bit, q, sources),
        formula="q = n + 16·h;  x = d·(q − 16)",
        worked=f"q = {nibble} + 16·{bit} = {q};  x = {shortest_text(d)}·({q} − 16) = {shortest_text(value)}",
        value=float(value),
    )


def _q5_1_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    m, m_term = half_term(block, 2, "m", "block minimum")
    nibble, bit, q, sources = _q5_parts(block, element, 4)
    value = np.float32(q) * d + m
    return ElementAnatomy(
        element=element,
        quant=sources,
        terms=(d_term, m_term) + _q5_terms(nibble, bit, q, sources),
        formula="q = n + 16·h;  x = d·q + m",
        worked=f"q = {nibble} + 16·{bit} = {q};  x = {shortest_text(d)}·{q} {plus(m)} = {shortest_text(value)}",
        value=float(value),
    )


# --- Q8_0 / Q8_1 -------------------------------------------------------------


def _q8_kernel(qs_offset: int) -> Kernel:
    def kernel(blocks: np.ndarray, out: np.ndarray) -> None:
        d = half_column(blocks, 0)
        np.copyto(out, blocks[:, qs_offset:].view(np.int8), casting="unsafe")
        out *= d

    kernel.__name__ = f"_q8_kernel_at_{qs_offset}"
    return kernel


def _q8_anatomist(qs_offset: int, note: str):
    def anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
        d, d_term = half_term(block, 0, "d", "block scale")
        terms = [d_term]
        if qs_offset == 4:
            s, s_term = half_term(block, 2, "s", "d·Σq, a sum used by the dot product, not a scale")
            terms.append(s_term)
        q = int.from_bytes(block[qs_offset + element : qs_offset + element + 1], "little", signed=True)
        source = BitSource("qs", qs_offset + element, None, f"qs[{element}] (int8)")
        terms.append(Term("q", q, source.role, byte=source.byte, size=1))
        value = np.float32(q) * d
        return ElementAnatomy(
            element=element,
            quant=(source,),
            terms=tuple(terms),
            formula="x = d·q" + note,
            worked=f"x = {shortest_text(d)}·({q}) = {shortest_text(value)}",
            value=float(value),
        )

    return anatomy


# --- Q1_0 / Q2_0 -------------------------------------------------------------


def _q1_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    clear = np.unpackbits(blocks[:, 2:18], axis=1, bitorder="little")
    clear ^= 1
    # ggml picks d or −d; flipping the sign bit of d is exactly −d, NaN included.
    bits = out.view(np.uint32)
    np.copyto(bits, clear, casting="unsafe")
    bits <<= 31
    bits ^= d.view(np.uint32)


def _q1_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    index, position = divmod(element, 8)
    bit = (block[2 + index] >> position) & 1
    source = BitSource("qs", 2 + index, (position, position), f"bit {position} of qs[{index}]")
    value = d if bit else -d
    sign = "+" if bit else "−"
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("b", bit, source.role, byte=source.byte, size=1)),
        formula="x = +d if b = 1, x = −d if b = 0",
        worked=f"b = {bit}  →  x = {sign}d = {shortest_text(value)}",
        value=float(value),
    )


def _q2_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    k = blocks.shape[0]
    codes = scratch("codes", (k, 16, 4))
    qs = blocks[:, 2:]
    for slot in range(4):
        np.right_shift(qs, 2 * slot, out=codes[:, :, slot])
    codes &= 3
    codes -= 1  # wraps to the int8 bit pattern of q − 1
    np.copyto(out, codes.view(np.int8).reshape(k, 64), casting="unsafe")
    out *= d


def _q2_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    index, slot = divmod(element, 4)
    q = (block[2 + index] >> (2 * slot)) & 3
    source = BitSource("qs", 2 + index, (2 * slot, 2 * slot + 1), f"bits {2 * slot}–{2 * slot + 1} of qs[{index}]")
    value = np.float32(q - 1) * d
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("q", q, source.role, byte=source.byte, size=1)),
        formula="x = d·(q − 1)",
        worked=f"x = {shortest_text(d)}·({q} − 1) = {shortest_text(value)}",
        value=float(value),
    )


# --- records -----------------------------------------------------------------

_D = Field("d", 0, 2, "ggml_half", "block scale (fp16)")
_NIBBLES = "4-bit codes: element j < 16 in the low nibble of qs[j], element j + 16 in the high nibble"

#: The legacy records, in id order.
TYPES: tuple[GGMLType, ...] = (
    kernel_record(
        "Q4_0",
        _q4_0_kernel,
        vec_dot_type="Q8_0",
        fields=(_D, Field("qs", 2, 16, "uint8_t[16]", _NIBBLES + "; x = d·(q − 8)")),
        description="4-bit: 32 codes q in 0..15 sharing one fp16 scale d, x = d·(q − 8); 18 bytes per block.",
        family="legacy",
        anatomist=quiet(_q4_0_anatomy),
    ),
    kernel_record(
        "Q4_1",
        _q4_1_kernel,
        vec_dot_type="Q8_1",
        fields=(
            _D,
            Field("m", 2, 2, "ggml_half", "block minimum (fp16), added to every element"),
            Field("qs", 4, 16, "uint8_t[16]", _NIBBLES + "; x = d·q + m"),
        ),
        description="4-bit with offset: 32 codes q in 0..15, an fp16 scale d and fp16 minimum m, x = d·q + m; 20 bytes per block.",
        family="legacy",
        anatomist=quiet(_q4_1_anatomy),
    ),
    kernel_record(
        "Q5_0",
        _q5_0_kernel,
        vec_dot_type="Q8_0",
        fields=(
            _D,
            Field("qh", 2, 4, "uint8_t[4]", "5th bits: bit j of this little-endian u32 is bit 4 of element j"),
            Field("qs", 6, 16, "uint8_t[16]", _NIBBLES + " (low 4 bits); x = d·(q − 16)"),
        ),
        description="5-bit: 4-bit nibbles plus a 32-bit mask of 5th bits, one fp16 scale d, x = d·(q − 16); 22 bytes per block.",
        family="legacy",
        anatomist=quiet(_q5_0_anatomy),
    ),
    kernel_record(
        "Q5_1",
        _q5_1_kernel,
        vec_dot_type="Q8_1",
        fields=(
            _D,
            Field("m", 2, 2, "ggml_half", "block minimum (fp16), added to every element"),
            Field("qh", 4, 4, "uint8_t[4]", "5th bits: bit j of this little-endian u32 is bit 4 of element j"),
            Field("qs", 8, 16, "uint8_t[16]", _NIBBLES + " (low 4 bits); x = d·q + m"),
        ),
        description="5-bit with offset: nibbles plus a mask of 5th bits, an fp16 scale d and minimum m, x = d·q + m; 24 bytes per block.",
        family="legacy",
        anatomist=quiet(_q5_1_anatomy),
    ),
    kernel_record(
        "Q8_0",
        _q8_kernel(2),
        vec_dot_type="Q8_0",
        fields=(_D, Field("qs", 2, 32, "int8_t[32]", "codes, x = d·q")),
        description="8-bit: 32 int8 codes sharing one fp16 scale d, x = d·q; 34 bytes per block — not plain int8.",
        family="legacy",
        anatomist=quiet(_q8_anatomist(2, "")),
    ),
    kernel_record(
        "Q8_1",
        _q8_kernel(4),
        vec_dot_type=None,
        fields=(
            _D,
            Field("s", 2, 2, "ggml_half", "d·Σq (fp16): a precomputed sum for dot products, not a scale"),
            Field("qs", 4, 32, "int8_t[32]", "codes, x = d·q"),
        ),
        description=(
            "8-bit activation format (what Q4_1/Q5_1 weights are multiplied against): Q8_0 plus "
            "s = d·Σq; x = d·q, 36 bytes per block, never stored as a weight."
        ),
        family="legacy",
        is_weight_type=False,
        # ggml has no to_float for Q8_1; x = d·q is its definition (s is a sum).
        anatomist=quiet(_q8_anatomist(4, "  (s is not used: it is d·Σq, kept for the dot product)")),
    ),
    kernel_record(
        "Q1_0",
        _q1_0_kernel,
        vec_dot_type="Q8_0",
        fields=(_D, Field("qs", 2, 16, "uint8_t[16]", "sign bits: element j is bit j % 8 of qs[j / 8]; x = +d if set, −d if clear")),
        description="1-bit: 128 sign bits sharing one fp16 scale d, x = ±d; 18 bytes per block.",
        family="legacy",
        anatomist=quiet(_q1_0_anatomy),
    ),
    kernel_record(
        "Q2_0",
        _q2_0_kernel,
        vec_dot_type="Q8_0",
        fields=(
            _D,
            Field("qs", 2, 16, "uint8_t[16]", "2-bit codes packed in order: element j is bits 2·(j % 4).. of qs[j / 4]; x = d·(q − 1)"),
        ),
        description="2-bit: 64 codes q in 0..3 sharing one fp16 scale d, x = d·(q − 1) ∈ {−d, 0, d, 2d}; 18 bytes per block.",
        family="legacy",
        anatomist=quiet(_q2_0_anatomy),
    ),
)
