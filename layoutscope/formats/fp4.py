"""The 4-bit float (E2M1) microscaling types MXFP4 and NVFP4.

Each element is a 4-bit float: sign, 2 exponent bits, 1 mantissa bit, i.e.
one of 0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6. ggml stores those values doubled
as integers (``kvalues_fp4``) and halves the block scale instead. MXFP4
(OCP MX) scales 32 elements by a power of two (E8M0); NVFP4 scales each
16-element group by an unsigned 8-bit float (UE4M3).
"""

from __future__ import annotations

import numpy as np

from layoutscope.formats._common import nibble_source, quiet
from layoutscope.formats.float_text import shortest_text
from layoutscope.formats._kernel import kernel_record, move_runs, nibble_planes, scratch
from layoutscope.formats.record import ElementAnatomy, Field, GGMLType, Term

#: ggml's ``kvalues_fp4``: twice the E2M1 value of each 4-bit code.
KVALUES_FP4 = (0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12)


def _e8m0_half_table() -> np.ndarray:
    """2^(e − 128) for every E8M0 byte e, as float32 (e = 255 is 2^127, not NaN)."""
    e = np.arange(256, dtype=np.uint32)
    # e = 0 and 1 give float32 subnormals 2^-128 and 2^-127.
    bits = np.where(e < 2, np.uint32(0x00200000) << e, (e - 1) << 23).astype(np.uint32)
    return bits.view(np.float32)


def _ue4m3_half_table() -> np.ndarray:
    """Half the UE4M3 value of every byte, as float32 (bit 7 ignored; 0x00 and 0x7F are 0)."""
    b = np.arange(256)
    exponent = (b >> 3) & 15
    mantissa = b & 7
    # Every value is a short binary fraction, exact in float64 and float32.
    value = np.where(exponent == 0, mantissa * 2.0**-9, (1 + mantissa / 8) * 2.0 ** (exponent - 7.0)) * 0.5
    value[[0x00, 0x7F]] = 0.0
    return value.astype(np.float32)


#: 2^(e − 128) for each E8M0 byte e (the scale ggml pairs with ``KVALUES_FP4``).
E8M0_HALF = _e8m0_half_table()
#: Half the UE4M3 value of each byte (likewise paired with ``KVALUES_FP4``).
UE4M3_HALF = _ue4m3_half_table()


def _fp4_codes(planes: np.ndarray) -> np.ndarray:
    """kvalues_fp4 of every nibble in ``planes`` (uint8, modified in place), as int8."""
    flat = planes.reshape(-1)
    sign = scratch("fp4_sign", flat.shape)
    ramp = scratch("fp4_ramp", flat.shape)
    seven = scratch("fp4_seven", flat.shape)
    np.right_shift(flat, 3, out=sign)
    flat &= 7
    # Magnitudes 0,1,2,3,4,6,8,12 for m = 0..7 are m + (m >> 2)·(m & 3) + 2·[m = 7]:
    # a few whole-array uint8 passes beat a per-element table lookup (and
    # numpy's uint8 maximum, which is not vectorised).
    np.right_shift(flat, 2, out=ramp)
    np.bitwise_and(flat, 3, out=seven)
    ramp *= seven
    np.add(flat, 1, out=seven)
    seven >>= 3
    flat += ramp
    flat += seven
    flat += seven
    # Two's-complement negate where the sign bit is set: (mag ^ −s) + s.
    np.negative(sign, out=ramp)
    flat ^= ramp
    flat += sign
    return planes.view(np.int8)


def _mxfp4_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = E8M0_HALF[blocks[:, 0]][:, None]
    codes = _fp4_codes(nibble_planes(blocks))
    np.copyto(out[:, :16], codes[0, :, 1:], casting="unsafe")
    np.copyto(out[:, 16:], codes[1, :, 1:], casting="unsafe")
    out *= d


def _nvfp4_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    k = blocks.shape[0]
    scales = UE4M3_HALF[blocks[:, :4]]
    codes = _fp4_codes(nibble_planes(blocks))
    # Group s uses qs[8s..8s+7]: low nibbles are elements 16s + j, high 16s + 8 + j.
    ordered = scratch("codes", (k, 4, 2, 8), np.int8)
    move_runs(ordered, codes[:, :, 4:].reshape(2, k, 4, 8).transpose(1, 2, 0, 3))
    np.copyto(out, ordered.reshape(k, 64), casting="unsafe")
    out.reshape(k, 4, 16)[...] *= scales[:, :, None]


def _e2m1_text(q: int) -> str:
    """How a 4-bit code reads as E2M1, e.g. ``sign 1, exp 01, mant 1 → −1.5``."""
    sign, exponent, mantissa = q >> 3, (q >> 1) & 3, q & 1
    value = KVALUES_FP4[q] / 2
    return f"E2M1 sign {sign}, exp {exponent:02b}, mant {mantissa} → {value:g}"


def _mxfp4_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    e = block[0]
    scale = E8M0_HALF[e]
    index, high = element % 16, element >= 16
    q = (block[1 + index] >> 4) if high else (block[1 + index] & 0x0F)
    source = nibble_source("qs", 1, index, high)
    v = KVALUES_FP4[q]
    value = np.float32(v) * scale
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(
            Term("e", e, f"E8M0 exponent @0 = {e:02x}; block scale 2^(e − 127)", byte=0, size=1),
            Term("q", q, f"{source.role}: {_e2m1_text(q)}", byte=source.byte, size=1),
            Term("v", v, "kvalues_fp4[q] = 2·E2M1(q)"),
        ),
        formula="x = v·2^(e − 128),  v = kvalues_fp4[q] = 2·E2M1(q)",
        worked=f"x = {v}·2^({e} − 128) = {v}·{shortest_text(scale)} = {shortest_text(value)}",
        value=float(value),
    )


def _nvfp4_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    group, rest = divmod(element, 16)
    index, high = 8 * group + rest % 8, rest >= 8
    q = (block[4 + index] >> 4) if high else (block[4 + index] & 0x0F)
    source = nibble_source("qs", 4, index, high)
    raw = block[group]
    scale = UE4M3_HALF[raw]
    v = KVALUES_FP4[q]
    value = np.float32(v) * scale
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(
            Term(f"d[{group}]", float(scale), f"UE4M3 scale of group {group} @{group} = {raw:02x}, halved", byte=group, size=1),
            Term("q", q, f"{source.role}: {_e2m1_text(q)}", byte=source.byte, size=1),
            Term("v", v, "kvalues_fp4[q] = 2·E2M1(q)"),
        ),
        formula=f"x = v·UE4M3(d[{group}])/2,  v = kvalues_fp4[q] = 2·E2M1(q)",
        worked=f"x = {v}·{shortest_text(scale)} = {shortest_text(value)}",
        value=float(value),
    )


#: The FP4 records.
TYPES: tuple[GGMLType, ...] = (
    kernel_record(
        "MXFP4",
        _mxfp4_kernel,
        vec_dot_type="Q8_0",
        fields=(
            Field("e", 0, 1, "uint8_t", "E8M0 shared exponent: scale 2^(e − 127) (e = 255 is not NaN here)"),
            Field("qs", 1, 16, "uint8_t[16]", "E2M1 codes: element j < 16 in the low nibble of qs[j], j + 16 in the high nibble"),
        ),
        description="OCP microscaling FP4: 32 E2M1 4-bit floats sharing one power-of-two E8M0 scale; 17 bytes per block.",
        family="microscaling",
        anatomist=quiet(_mxfp4_anatomy),
    ),
    kernel_record(
        "NVFP4",
        _nvfp4_kernel,
        vec_dot_type="Q8_0",
        fields=(
            Field("d", 0, 4, "uint8_t[4]", "UE4M3 scale of each 16-element group (an unsigned 8-bit float)"),
            Field("qs", 4, 32, "uint8_t[32]", "E2M1 codes: group s uses qs[8s..8s+7], low nibbles elements 16s..16s+7, high nibbles 16s+8..16s+15"),
        ),
        description="NVIDIA FP4: 64 E2M1 4-bit floats in four 16-element groups, each with an 8-bit UE4M3 float scale; 36 bytes per block.",
        family="microscaling",
        anatomist=quiet(_nvfp4_anatomy),
    ),
)
