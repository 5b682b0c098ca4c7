"""The ternary types TQ1_0 and TQ2_0 (BitNet-style weights in {−1, 0, +1}·d).

Both hold 256 elements with one fp16 scale at the end of the block. TQ2_0
spends 2 bits per element; TQ1_0 packs five base-3 digits ("trits") into a
byte as a fixed-point fraction, so a trit is read by multiplying the byte by
a power of 3 (mod 256) and taking the top of ``3·b``.
"""

from __future__ import annotations

import numpy as np

from layoutscope.formats._common import half_term, quiet
from layoutscope.formats.float_text import shortest_text
from layoutscope.formats._kernel import half_column, kernel_record, move_runs, scratch
from layoutscope.formats.record import BitSource, ElementAnatomy, Field, GGMLType, Term

_POW3 = (1, 3, 9, 27, 81)


def _tq1_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    k = blocks.shape[0]
    d = half_column(blocks, 52)
    flat = blocks.reshape(-1)
    shifted = scratch("shifted", flat.shape)
    above = scratch("above", flat.shape, np.bool_)
    below = scratch("below", flat.shape, np.bool_)
    # trit − 1 for every byte (scale bytes too, ignored) and every trit position.
    trits = scratch("trits", (5, k, 54), np.int8)
    for n, power in enumerate(_POW3):
        np.multiply(flat, np.uint8(power), out=shifted)  # wraps mod 256 like ggml's uint8_t
        # (3·b) >> 8 is 0 for b < 86, 1 for b < 171, else 2.
        np.greater(shifted, 170, out=above)
        np.less(shifted, 86, out=below)
        np.subtract(above.view(np.int8), below.view(np.int8), out=trits[n].reshape(-1))
    # Element order: qs[0..31] give trit n to 32n + m, qs[32..47] to 160 + 16n + m,
    # and qh[0..3] give only trits 0..3, to 240 + 4n + j.
    codes = scratch("codes", (k, 256), np.int8)
    move_runs(codes[:, :160].reshape(k, 5, 32), trits[:, :, :32].transpose(1, 0, 2))
    move_runs(codes[:, 160:240].reshape(k, 5, 16), trits[:, :, 32:48].transpose(1, 0, 2))
    move_runs(codes[:, 240:].reshape(k, 4, 4), trits[:4, :, 48:52].transpose(1, 0, 2))
    np.copyto(out, codes, casting="unsafe")
    out *= d


def _tq1_0_position(element: int) -> tuple[str, int, int, int]:
    """(field, byte offset in block, index in field, trit n) of a TQ1_0 element."""
    if element < 160:
        n, m = divmod(element, 32)
        return "qs", m, m, n
    if element < 240:
        n, m = divmod(element - 160, 16)
        return "qs", 32 + m, 32 + m, n
    n, j = divmod(element - 240, 4)
    return "qh", 48 + j, j, n


def _tq1_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 52, "d", "block scale")
    field, offset, index, n = _tq1_0_position(element)
    byte = block[offset]
    shifted = (byte * _POW3[n]) & 0xFF
    trit = (shifted * 3) >> 8
    source = BitSource(field, offset, None, f"trit {n} of {field}[{index}] (base-3 digit, fixed point)")
    value = np.float32(trit - 1) * d
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(
            d_term,
            Term("b", byte, f"{field}[{index}]", byte=offset, size=1),
            Term("t", trit, f"trit {n}: ((b·3^{n}) mod 256·3) >> 8"),
        ),
        formula="t = (((b·3^n) mod 256)·3) >> 8;  x = d·(t − 1)",
        worked=(
            f"t = ((({byte}·{_POW3[n]}) mod 256)·3) >> 8 = ({shifted}·3) >> 8 = {trit};  "
            f"x = {shortest_text(d)}·({trit} − 1) = {shortest_text(value)}"
        ),
        value=float(value),
    )


def _tq2_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    k = blocks.shape[0]
    d = half_column(blocks, 64)
    flat = blocks.reshape(-1)
    # Whole-chunk passes per shift (scale bytes included, ignored later).
    planes = scratch("planes", (4, flat.size))
    for shift in range(4):
        np.right_shift(flat, 2 * shift, out=planes[shift])
    planes &= 3
    planes -= 1  # wraps to the int8 bit pattern of q − 1
    shifted = planes.view(np.int8).reshape(4, k, 66)[:, :, :64].reshape(4, k, 2, 32)
    # Bits 2l..2l+1 of qs[32g + m] are element 128g + 32l + m.
    codes = scratch("codes", (k, 2, 4, 32), np.int8)
    move_runs(codes, shifted.transpose(1, 2, 0, 3))
    np.copyto(out, codes.reshape(k, 256), casting="unsafe")
    out *= d


def _tq2_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 64, "d", "block scale")
    group, rest = divmod(element, 128)
    shift, m = divmod(rest, 32)
    index = 32 * group + m
    q = (block[index] >> (2 * shift)) & 3
    bits = (2 * shift, 2 * shift + 1)
    source = BitSource("qs", index, bits, f"bits {bits[0]}–{bits[1]} of qs[{index}]")
    value = np.float32(q - 1) * d
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("q", q, source.role, byte=index, size=1)),
        formula="x = d·(q − 1)",
        worked=f"x = {shortest_text(d)}·({q} − 1) = {shortest_text(value)}",
        value=float(value),
    )


#: The ternary records.
TYPES: tuple[GGMLType, ...] = (
    kernel_record(
        "TQ1_0",
        _tq1_0_kernel,
        vec_dot_type="Q8_K",
        fields=(
            Field("qs", 0, 48, "uint8_t[48]", "5 trits per byte (base 3, fixed point): qs[m<32] → elements 32n + m, qs[32+m] → 160 + 16n + m"),
            Field("qh", 48, 4, "uint8_t[4]", "4 trits per byte: qh[j] → elements 240 + 4n + j"),
            Field("d", 52, 2, "ggml_half", "block scale (fp16); x = d·(t − 1)"),
        ),
        description="Ternary, 1.69 bits: 256 values in {−d, 0, +d}, five base-3 digits packed per byte, one fp16 scale d; 54 bytes per block.",
        family="ternary",
        anatomist=quiet(_tq1_0_anatomy),
    ),
    kernel_record(
        "TQ2_0",
        _tq2_0_kernel,
        vec_dot_type="Q8_K",
        fields=(
            Field("qs", 0, 64, "uint8_t[64]", "2-bit codes: bits 2l..2l+1 of qs[32g + m] are element 128g + 32l + m"),
            Field("d", 64, 2, "ggml_half", "block scale (fp16); x = d·(q − 1)"),
        ),
        description="Ternary in 2 bits: 256 codes q in 0..3 with x = d·(q − 1), one fp16 scale d; 66 bytes per block.",
        family="ternary",
        anatomist=quiet(_tq2_0_anatomy),
    ),
)
