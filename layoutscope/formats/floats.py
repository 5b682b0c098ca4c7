"""Plain (block-size 1) types: F32, F16, BF16, F64 and the integers I8..I64.

These are stored value by value with no scale, and, unlike quantized
payloads, are byte-swapped in big-endian GGUF files, so their decoders honour
``byteorder``. Values are returned as float32: F64, I32 and I64 are rounded
to the nearest float32, exactly as numpy's ``astype`` does.
"""

from __future__ import annotations

import numpy as np

from layoutscope.formats._common import hex_bytes, quiet
from layoutscope.formats.float_text import shortest_text
from layoutscope.formats._kernel import run_kernel, scratch
from layoutscope.formats.record import BitSource, ElementAnatomy, Field, GGMLType, Term
from layoutscope.formats.sizes import sizes_of

# f16 bits placed in a float32's low exponent/mantissa bits read as 2^-112
# times the half value, subnormals included; multiplying restores the scale.
_F16_REBIAS = np.float32(2.0**112)
_SMALLEST_SUBNORMAL = np.float32(2.0**-149)
_ONE = np.float32(1.0)


def _f32_kernel(byteorder: str):
    dtype = np.dtype(byteorder + "f4")

    def kernel(blocks: np.ndarray, out: np.ndarray) -> None:
        np.copyto(out, blocks.view(dtype))

    return kernel


def _f16_kernel(byteorder: str):
    signed = np.dtype(byteorder + "i2")
    unsigned = np.dtype(byteorder + "u2")

    def kernel(blocks: np.ndarray, out: np.ndarray) -> None:
        # 2·h (mod 2^16) drops the sign; exponent 31 (inf/NaN) then reads >= 0xF800.
        doubled = scratch("f16_doubled", (blocks.shape[0],), np.uint16)
        np.multiply(blocks.view(unsigned)[:, 0], 2, out=doubled)
        # The rebias multiplies float32 subnormals, which a flush-to-zero mode
        # (set by some -ffast-math extension) would zero; numpy's cast is exact.
        if doubled.max() >= 0xF800 or _SMALLEST_SUBNORMAL * _ONE == 0:
            np.copyto(out, blocks.view(byteorder + "f2"))
            return
        # numpy's own float16 cast is scalar code (~7x slower); this builds
        # the float32 bits with whole-array integer passes instead.
        bits = out.view(np.int32)
        np.copyto(bits, blocks.view(signed))  # sign-extends into bits 16..31
        bits <<= 13  # exponent and mantissa move to their float32 positions
        bits &= np.int32(-0x70000001)  # keep the sign at bit 31, clear bits 28..30
        out *= _F16_REBIAS

    return kernel


def _bf16_kernel(byteorder: str):
    dtype = np.dtype(byteorder + "u2")

    def kernel(blocks: np.ndarray, out: np.ndarray) -> None:
        bits = out.view(np.uint32)
        np.copyto(bits, blocks.view(dtype))
        bits <<= 16  # bf16 is the top half of a float32

    return kernel


def _cast_kernel(code: str):
    def make(byteorder: str):
        dtype = np.dtype(code if code == "i1" else byteorder + code)

        def kernel(blocks: np.ndarray, out: np.ndarray) -> None:
            np.copyto(out, blocks.view(dtype), casting="unsafe")

        return kernel

    return make


def _plain_dequantizer(make_kernel):
    kernels = {"<": make_kernel("<"), ">": make_kernel(">")}

    def dequantize(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
        if byteorder not in kernels:
            raise ValueError(f"byteorder must be '<' or '>', got {byteorder!r}")
        return run_kernel(blocks, 1, kernels[byteorder])

    return dequantize


# --- anatomy ---------------------------------------------------------------


def _bit_sources(field: str, size: int, byteorder: str, lo: int, hi: int, role: str) -> list[BitSource]:
    """Where value bits lo..hi sit in the file bytes, one BitSource per byte touched."""
    sources = []
    for value_byte in range(lo // 8, hi // 8 + 1):
        first = max(lo, value_byte * 8) - value_byte * 8
        last = min(hi, value_byte * 8 + 7) - value_byte * 8
        file_byte = value_byte if byteorder == "<" else size - 1 - value_byte
        sources.append(BitSource(field, file_byte, (first, last), role))
    return sources


def _ieee_anatomist(size: int, exp_bits: int, ctype: str, to_float32):
    """Anatomy of an IEEE-style float of ``size`` bytes with ``exp_bits`` exponent bits."""
    total = size * 8
    mant_bits = total - 1 - exp_bits
    bias = (1 << (exp_bits - 1)) - 1
    exp_max = (1 << exp_bits) - 1

    def anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
        raw = int.from_bytes(block, "little" if byteorder == "<" else "big")
        sign = raw >> (total - 1)
        exponent = (raw >> mant_bits) & exp_max
        mantissa = raw & ((1 << mant_bits) - 1)
        value = to_float32(block, byteorder)
        endian = "little" if byteorder == "<" else "big"
        quant = tuple(
            _bit_sources("x", size, byteorder, total - 1, total - 1, "sign bit")
            + _bit_sources("x", size, byteorder, mant_bits, total - 2, f"exponent ({exp_bits} bits, bias {bias})")
            + _bit_sources("x", size, byteorder, 0, mant_bits - 1, f"mantissa ({mant_bits} bits)")
        )
        terms = (
            Term("bytes", float(value), f"{ctype} ({endian}-endian) = {hex_bytes(block, 0, size)}", byte=0, size=size),
            Term("s", sign, f"bit {total - 1}"),
            Term("e", exponent, f"bits {mant_bits}–{total - 2}"),
            Term("m", mantissa, f"bits 0–{mant_bits - 1}"),
        )
        digits = (mant_bits + 3) // 4
        signed = "−" if sign else "+"
        if exponent == exp_max:
            kind = "NaN" if mantissa else f"{signed}inf"
            worked = f"e = {exponent} (all ones), m = 0x{mantissa:0{digits}x} → {kind}"
        elif exponent == 0:
            worked = (f"s = {sign}, e = 0 (subnormal), m = 0x{mantissa:0{digits}x} → "
                      f"x = {signed}(m/2^{mant_bits})·2^{1 - bias} = {shortest_text(value)}")
        else:
            worked = (
                f"s = {sign}, e = {exponent}, m = 0x{mantissa:0{digits}x} → "
                f"x = {signed}(1 + m/2^{mant_bits})·2^{exponent - bias} = {shortest_text(value)}"
            )
        if size == 8 and np.isfinite(value) and float(value) != float(np.frombuffer(block, byteorder + "f8")[0]):
            worked += " (rounded to float32)"
        return ElementAnatomy(
            element=element,
            quant=quant,
            terms=terms,
            formula=f"x = (−1)^s·(1 + m/2^{mant_bits})·2^(e − {bias})",
            worked=worked,
            value=float(value),
        )

    return anatomy


def _f32_value(block: bytes, byteorder: str) -> np.float32:
    return np.frombuffer(block, byteorder + "f4")[0].astype(np.float32)


def _f16_value(block: bytes, byteorder: str) -> np.float32:
    return np.frombuffer(block, byteorder + "f2")[0].astype(np.float32)


def _bf16_value(block: bytes, byteorder: str) -> np.float32:
    top = int.from_bytes(block, "little" if byteorder == "<" else "big")
    return np.array([top << 16], dtype=np.uint32).view(np.float32)[0]


def _f64_value(block: bytes, byteorder: str) -> np.float32:
    return np.frombuffer(block, byteorder + "f8")[0].astype(np.float32)


def _int_anatomist(size: int, ctype: str):
    def anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
        dtype = "i1" if size == 1 else byteorder + f"i{size}"
        integer = np.frombuffer(block, dtype)[0]
        value = integer.astype(np.float32)
        endian = "" if size == 1 else (" little-endian" if byteorder == "<" else " big-endian")
        rounded = "" if int(value) == int(integer) else " (rounded to float32)"
        return ElementAnatomy(
            element=element,
            quant=(BitSource("x", 0, None, f"{ctype}{endian}", size=size),),
            terms=(Term("i", float(integer), f"{ctype}{endian} = {hex_bytes(block, 0, size)}", byte=0, size=size),),
            formula="x = i (plain integer, no scale)",
            worked=f"x = {int(integer)}{rounded}",
            value=float(value),
        )

    return anatomy


# --- records ---------------------------------------------------------------


def _plain(name, ctype, family, vec_dot_type, meaning, description, make_kernel, anatomist):
    sizes = sizes_of(name)
    return GGMLType(
        sizes,
        vec_dot_type=vec_dot_type,
        fields=(Field("x", 0, sizes.type_size, ctype, meaning),),
        description=description,
        family=family,
        dequantizer=_plain_dequantizer(make_kernel),
        anatomist=quiet(anatomist),
    )


#: The plain-type records.
TYPES: tuple[GGMLType, ...] = (
    _plain(
        "F32", "float", "float", "F32",
        "IEEE binary32 value (byte-swapped in big-endian files)",
        "32-bit IEEE float, stored as is; 4 bytes per element.",
        _f32_kernel, _ieee_anatomist(4, 8, "float32", _f32_value),
    ),
    _plain(
        "F16", "ggml_fp16_t", "float", "F16",
        "IEEE binary16 value (byte-swapped in big-endian files)",
        "16-bit IEEE half float; 2 bytes per element, converts to float32 exactly.",
        _f16_kernel, _ieee_anatomist(2, 5, "float16", _f16_value),
    ),
    _plain(
        "BF16", "ggml_bf16_t", "float", "BF16",
        "bfloat16: the top 16 bits of a float32 (byte-swapped in big-endian files)",
        "bfloat16: the top half of a float32 (same range, 8-bit mantissa); 2 bytes per element, not quantized.",
        _bf16_kernel, _ieee_anatomist(2, 8, "bfloat16", _bf16_value),
    ),
    _plain(
        "F64", "double", "float", None,
        "IEEE binary64 value (byte-swapped in big-endian files)",
        "64-bit IEEE double; 8 bytes per element, shown rounded to float32.",
        _cast_kernel("f8"), _ieee_anatomist(8, 11, "float64", _f64_value),
    ),
    _plain(
        "I8", "int8_t", "integer", None,
        "signed 8-bit integer",
        "Signed 8-bit integers, stored as is with no scale; 1 byte per element.",
        _cast_kernel("i1"), _int_anatomist(1, "int8"),
    ),
    _plain(
        "I16", "int16_t", "integer", None,
        "signed 16-bit integer (byte-swapped in big-endian files)",
        "Signed 16-bit integers, stored as is with no scale; 2 bytes per element.",
        _cast_kernel("i2"), _int_anatomist(2, "int16"),
    ),
    _plain(
        "I32", "int32_t", "integer", None,
        "signed 32-bit integer (byte-swapped in big-endian files)",
        "Signed 32-bit integers, stored as is with no scale; 4 bytes per element, shown as float32.",
        _cast_kernel("i4"), _int_anatomist(4, "int32"),
    ),
    _plain(
        "I64", "int64_t", "integer", None,
        "signed 64-bit integer (byte-swapped in big-endian files)",
        "Signed 64-bit integers, stored as is with no scale; 8 bytes per element, shown as float32.",
        _cast_kernel("i8"), _int_anatomist(8, "int64"),
    ),
)
