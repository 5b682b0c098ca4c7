"""Vectorised dequantizers for the K-quant super-blocks (Q2_K..Q6_K, Q8_K).

Every decoder turns uint8 ``(n_blocks, type_size)`` into float32
``(n_blocks, 256)`` that is bit-identical to ggml's ``dequantize_row_*``, in
three steps per chunk of blocks:

1. per-sub-block float scales (and mins), formed with the same float32
   operations as ggml (``d·sc``, ``dmin·m``);
2. the integer code of every element, in element order: the code bytes that a
   group of elements shares are copied to each of them by one ``np.repeat``
   on a void view, then per-element shift/mask patterns pick the bits (on u64
   words, because numpy vectorises variable shifts of u64 but not of u8);
3. ``out = repeat(scale)·code − repeat(min)``.

Exactness. Every product ggml forms before its last rounding is exact in
float32: the integer part sc·q has magnitude at most 4096 (Q6_K's 127·31 is
the largest that is not a power of two), so at most 12 significant bits, and
an fp16 ``d`` has at most 11; ``d·sc`` and ``d·sc·q`` fit in the 24-bit
significand. So Q3_K and Q6_K values are exact, Q8_K rounds once in its
product, and Q2_K/Q4_K/Q5_K round once, in the final subtraction. Hence a
compiler that contracts ``d1*q - m1`` into a fused multiply-add (aarch64
builds of ggml may) still produces the same bits, and the order of the exact
multiplications does not matter.

Speed. :func:`_kernel.run_kernel` (the driver all families share) feeds the
kernels chunks of about 2000 blocks, so temporaries stay in cache, and
spreads large inputs over threads. A kernel holds at most one float
temporary and one code array at a time: with more, glibc hands the freed
memory back to the OS after every chunk and page-faults it in again on the
next, which made Q2_K four times slower. Every step in a kernel is one
whole-chunk numpy call; nothing loops over blocks or elements.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from layoutscope.formats._common import f32_column, fp16_column
from layoutscope.formats._kernel import Kernel, run_kernel

#: Elements per K-quant super-block (ggml's QK_K).
QK_K = 256

_U32 = np.uint32
_E = np.arange(QK_K)


def _constant(values, dtype=np.uint8) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=dtype)
    arr.setflags(write=False)
    return arr


def _per_word(shifts) -> np.ndarray:
    # Every pattern is constant over each run of 32 elements, hence over each
    # 8-byte word of codes: one u64 shift per word.
    return _constant(np.asarray(shifts)[::8], np.uint64)


def _bytes(value: int) -> np.uint64:
    """``value`` in every byte of a u64 word, for masking eight codes at once."""
    return np.uint64(value * 0x0101010101010101)


# Per-element shift patterns: where in its spread code byte each element's
# bits sit. Element numbering is documented with the code builders. A right
# shift by s of a u64 word drags a neighbouring byte's bits into each byte's
# top s bits; every mask used with a shift s is at most 8 − s bits wide, so
# they never survive (whatever the host's byte order).
_Q2_J = (_E % 128) // 32
_Q2_SHIFT = _per_word(2 * _Q2_J)
_Q3_HIGH_SHIFT = _per_word(4 * (_E // 128) + _Q2_J)
_K4_HALF = (_E % 64) // 32
_K4_SHIFT = _per_word(4 * _K4_HALF)
_Q5_HIGH_SHIFT = _per_word(2 * (_E // 64) + _K4_HALF)
_Q6_G = (_E % 128) // 32
_Q6_SHIFT = _per_word(np.where(_Q6_G >= 2, 4, 0))
_Q6_HIGH_SHIFT = _per_word(2 * _Q6_G)

_TWO, _FOUR = np.uint64(2), np.uint64(4)


_REPEATED: dict[str, np.ndarray] = {}


def _repeated(name: str, rows: int) -> np.ndarray:
    """Pattern ``name`` repeated for ``rows`` blocks, so ops on it are one long loop."""
    repeated = _REPEATED.get(name)
    if repeated is None or len(repeated) < rows:
        # Grown to the largest chunk seen; a racing thread at worst builds it twice.
        repeated = np.tile(globals()[name], (max(rows, 2048), 1))
        repeated.setflags(write=False)
        _REPEATED[name] = repeated
    return repeated[:rows]


def _spread(blocks: np.ndarray, start: int, size: int, group: int, copies: int) -> np.ndarray:
    """Code bytes ``[start, start+size)`` of each block, each ``group``-byte
    piece repeated ``copies`` times in a row: uint8 (k, size·copies), writable.
    """
    pieces = blocks[:, start : start + size].view(f"V{group}")
    return np.repeat(pieces, copies, axis=1).view(np.uint8)


def _pick(spread: np.ndarray, shifts: str, mask: int) -> np.ndarray:
    """``(spread >> shift) & mask`` per element, on u64 words, in place."""
    words = spread.view(np.uint64)
    np.right_shift(words, _repeated(shifts, len(words)), out=words)
    np.bitwise_and(words, _bytes(mask), out=words)
    return spread


def _column(blocks: np.ndarray, start: int, size: int) -> np.ndarray:
    """Bytes ``[start, start+size)`` of each block, contiguous, flattened."""
    return np.ascontiguousarray(blocks[:, start : start + size]).reshape(-1)


def _scale_min_k4(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K/Q5_K six-bit scales and mins from their 12 packed bytes: uint8 (k·8,) each.

    Sub-blocks 0–3 keep scale and min in the low 6 bits of bytes i and 4+i.
    Sub-blocks 4–7 take 4 bits from byte 4+i (low nibble scale, high nibble
    min) and the top 2 bits from the spare top bits of bytes i−4 and i.
    Four bytes are handled at once as little-endian u32 words.
    """
    words = np.ascontiguousarray(packed).view("<u4")
    a, b, c = words[:, 0], words[:, 1], words[:, 2]
    scales = np.empty((len(words), 2), _U32)
    mins = np.empty((len(words), 2), _U32)
    np.bitwise_and(a, _U32(0x3F3F3F3F), out=scales[:, 0])
    np.bitwise_and(b, _U32(0x3F3F3F3F), out=mins[:, 0])
    np.bitwise_or(c & _U32(0x0F0F0F0F), (a >> 2) & _U32(0x30303030), out=scales[:, 1])
    np.bitwise_or((c >> 4) & _U32(0x0F0F0F0F), (b >> 2) & _U32(0x30303030), out=mins[:, 1])
    return scales.view(np.uint8).reshape(-1), mins.view(np.uint8).reshape(-1)


def _q3_scales(packed: np.ndarray) -> np.ndarray:
    """Q3_K's 16 six-bit scales (stored +32) from 12 packed bytes: uint8 (k·16,).

    Scale i has its low 4 bits in byte i (i < 8) or the high nibble of byte
    i−8, and its top 2 bits at bit 2·(i//4) of byte 8 + i%4.
    """
    words = np.ascontiguousarray(packed).view("<u4")
    a, b, c = words[:, 0], words[:, 1], words[:, 2]
    low, top = _U32(0x0F0F0F0F), _U32(0x03030303)
    scales = np.empty((len(words), 4), _U32)
    np.bitwise_or(a & low, (c & top) << 4, out=scales[:, 0])
    np.bitwise_or(b & low, ((c >> 2) & top) << 4, out=scales[:, 1])
    np.bitwise_or((a >> 4) & low, ((c >> 4) & top) << 4, out=scales[:, 2])
    np.bitwise_or((b >> 4) & low, ((c >> 6) & top) << 4, out=scales[:, 3])
    return scales.view(np.uint8).reshape(-1)


def _fp16s(blocks: np.ndarray, offset: int, copies: int) -> np.ndarray:
    """The fp16 at ``offset`` of each block as float32, repeated ``copies`` times."""
    return np.repeat(fp16_column(blocks, offset), copies)


# -- per-type sub-block parameters and codes, for one chunk --------------------
# Q2_K/Q3_K: element 128h + 32j + 16p + l, sub-block 8h + 2j + p = element // 16,
#   2-bit code at bits 2j of qs[32h + 16p + l]; Q3_K's high bit at bit 4h+j of hmask[16p + l].
# Q4_K/Q5_K: element 64c + 32·half + l, sub-block 2c + half = element // 32,
#   nibble `half` of qs[32c + l]; Q5_K's fifth bit at bit 2c+half of qh[l].
# Q6_K: element 128h + 32g + l, sub-block 8h + 2g + l // 16 = element // 16,
#   low nibble (g < 2) or high nibble of ql[64h + 32·(g % 2) + l], two more bits at 2g of qh[32h + l].


def _q2_k_params(chunk):
    packed = _column(chunk, 0, 16)
    dl = _fp16s(chunk, 80, 16)
    dl *= packed & 0x0F
    ml = _fp16s(chunk, 82, 16)
    ml *= packed >> 4
    return dl, ml


def _q2_k_codes(chunk):
    return _pick(_spread(chunk, 16, 64, 32, 4), "_Q2_SHIFT", 3)


def _q3_k_params(chunk):
    signed = _q3_scales(chunk[:, 96:108])
    np.subtract(signed, 32, out=signed)  # wraps in uint8; read back as int8
    dl = _fp16s(chunk, 108, 16)
    dl *= signed.view(np.int8)
    return dl, None


def _q3_k_codes(chunk):
    low = _pick(_spread(chunk, 32, 64, 32, 4), "_Q2_SHIFT", 3)
    high = _pick(_spread(chunk, 0, 32, 32, 8), "_Q3_HIGH_SHIFT", 1)
    words = high.view(np.uint64)
    np.left_shift(words, _TWO, out=words)
    np.bitwise_or(low, high, out=low)
    np.subtract(low, 4, out=low)  # a clear high bit means "minus 4"; wraps, read as int8
    return low.view(np.int8)


def _k4_params(chunk):
    scales, mins = _scale_min_k4(chunk[:, 4:16])
    d1 = _fp16s(chunk, 0, 8)
    d1 *= scales
    m1 = _fp16s(chunk, 2, 8)
    m1 *= mins
    return d1, m1


def _q4_k_codes(chunk):
    return _pick(_spread(chunk, 16, 128, 32, 2), "_K4_SHIFT", 0x0F)


def _q5_k_codes(chunk):
    codes = _pick(_spread(chunk, 48, 128, 32, 2), "_K4_SHIFT", 0x0F)
    high = _pick(_spread(chunk, 16, 32, 32, 8), "_Q5_HIGH_SHIFT", 1)
    words = high.view(np.uint64)
    np.left_shift(words, _FOUR, out=words)
    np.bitwise_or(codes, high, out=codes)
    return codes


def _q6_k_params(chunk):
    dsc = _fp16s(chunk, 208, 16)
    dsc *= _column(chunk, 192, 16).view(np.int8)
    return dsc, None


def _q6_k_codes(chunk):
    codes = _pick(_spread(chunk, 0, 128, 64, 2), "_Q6_SHIFT", 0x0F)
    high = _pick(_spread(chunk, 128, 64, 32, 4), "_Q6_HIGH_SHIFT", 3)
    words = high.view(np.uint64)
    np.left_shift(words, _FOUR, out=words)
    np.bitwise_or(codes, high, out=codes)
    np.subtract(codes, 32, out=codes)  # wraps in uint8; read back as int8
    return codes.view(np.int8)


def _q8_k_params(chunk):
    return f32_column(chunk, 0).reshape(-1), None


def _q8_k_codes(chunk):
    return chunk[:, 4:260].view(np.int8)


# -- the shared float stage ----------------------------------------------------

_Params = Callable[[np.ndarray], "tuple[np.ndarray, Optional[np.ndarray]]"]
_Codes = Callable[[np.ndarray], np.ndarray]


def _kernel(params: _Params, codes: _Codes, run: int) -> Kernel:
    """A ``run_kernel`` kernel: ``out = scale·code − min``, sub-blocks of ``run`` elements."""

    def kernel(chunk: np.ndarray, out: np.ndarray) -> None:
        scale, minimum = params(chunk)
        q = codes(chunk)
        if run == QK_K:
            np.multiply(scale[:, None], q, out=out)
            return
        # Broadcast each sub-block's scale over its run instead of
        # materialising repeated copies: no float temporary at all.
        rows = out.reshape(-1, run)
        np.multiply(q.reshape(-1, run), scale[:, None], out=rows)
        if minimum is not None:
            np.subtract(rows, minimum[:, None], out=rows)

    return kernel


_Q2_K = _kernel(_q2_k_params, _q2_k_codes, 16)
_Q3_K = _kernel(_q3_k_params, _q3_k_codes, 16)
_Q4_K = _kernel(_k4_params, _q4_k_codes, 32)
_Q5_K = _kernel(_k4_params, _q5_k_codes, 32)
_Q6_K = _kernel(_q6_k_params, _q6_k_codes, 16)
_Q8_K = _kernel(_q8_k_params, _q8_k_codes, QK_K)


def dequantize_q2_k(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """Q2_K blocks (n, 84) to float32 (n, 256), bit-identical to ggml."""
    return run_kernel(blocks, QK_K, _Q2_K)


def dequantize_q3_k(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """Q3_K blocks (n, 110) to float32 (n, 256), bit-identical to ggml."""
    return run_kernel(blocks, QK_K, _Q3_K)


def dequantize_q4_k(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """Q4_K blocks (n, 144) to float32 (n, 256), bit-identical to ggml."""
    return run_kernel(blocks, QK_K, _Q4_K)


def dequantize_q5_k(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """Q5_K blocks (n, 176) to float32 (n, 256), bit-identical to ggml."""
    return run_kernel(blocks, QK_K, _Q5_K)


def dequantize_q6_k(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """Q6_K blocks (n, 210) to float32 (n, 256), bit-identical to ggml."""
    return run_kernel(blocks, QK_K, _Q6_K)


def dequantize_q8_k(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """Q8_K blocks (n, 292) to float32 (n, 256), bit-identical to ggml's dequantize_row_q8_K."""
    return run_kernel(blocks, QK_K, _Q8_K)
