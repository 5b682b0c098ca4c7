"""Vectorised dequantizers for the IQ types, bit-identical to ggml's ``to_float``.

Every decoder follows one plan: work through the blocks in chunks of about
64 Ki elements (so the scratch arrays stay in cache), build one gather index
per group of 4 or 8 elements, gather the already-signed grid rows straight
into the output with ``np.take(..., out=...)``, then multiply in place by the
group scale. The scales are computed in float32 in exactly ggml's operation
order; ggml's dequantizers have no multiply-add that the compiler could fuse
(every product is of a sum, never a sum of products), so plain numpy float32
arithmetic reproduces them to the bit.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from layoutscope.formats import _iq_tables as tables

_F32 = np.float32
_CHUNK_ELEMENTS = 1 << 16

# Shifts that pull four 7-bit sign indices out of a u32.
_SHIFT7 = np.array([0, 7, 14, 21], dtype=np.uint32)
# Shifts that pull the four 2-bit (IQ2_S) or 3-bit (IQ1_S) high index parts.
_SHIFT2 = np.array([0, 2, 4, 6], dtype=np.uint8)
_SHIFT3 = np.array([0, 3, 6, 9], dtype=np.uint16)
_SHIFT_BIT = np.arange(8, dtype=np.uint8)


def _fp16(b: np.ndarray, offset: int) -> np.ndarray:
    """The fp16 at ``offset`` of every block of a contiguous chunk, as float32 (m, 1)."""
    return b[:, offset : offset + 2].view("<f2").astype(_F32)


def _nibbles(x: np.ndarray) -> np.ndarray:
    """Low then high nibble of every byte: (..., n) uint8 -> (..., n, 2)."""
    return np.stack((x & 0x0F, x >> 4), axis=-1)


def _run(
    blocks: np.ndarray,
    block_size: int,
    n_indices: int,
    fill: Callable[[np.ndarray, np.ndarray, np.ndarray], None],
) -> np.ndarray:
    """Dequantize ``blocks`` chunk by chunk with ``fill(chunk, out, index_scratch)``."""
    n = blocks.shape[0]
    out = np.empty((n, block_size), dtype=_F32)
    if n == 0:
        return out
    step = max(1, _CHUNK_ELEMENTS // block_size)
    scratch = np.empty((min(step, n), n_indices), dtype=np.intp)
    # Random or corrupt blocks hold inf/NaN scales; ggml computes them silently too.
    with np.errstate(all="ignore"):
        for start in range(0, n, step):
            stop = min(n, start + step)
            chunk = np.ascontiguousarray(blocks[start:stop])
            fill(chunk, out[start:stop], scratch[: stop - start])
    return out


def _gather(table: np.ndarray, index: np.ndarray, out: np.ndarray) -> None:
    """Copy ``table[index]`` rows into ``out`` without a temporary."""
    # mode="wrap" skips numpy's buffered bounds check; the indices are in range by construction.
    np.take(table, index.reshape(-1), axis=0, out=out.reshape(-1, table.shape[1]), mode="wrap")


def _half_scale(d: np.ndarray, s: np.ndarray, tail: float) -> np.ndarray:
    """ggml's ``d * (0.5f + s) * tail`` in float32, left to right."""
    return d * (_F32(0.5) + s.astype(_F32)) * _F32(tail)


# -- IQ2_XXS ------------------------------------------------------------------


def _fill_iq2_xxs(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    q = b[:, 2:66].reshape(m, 8, 8)
    aux = q[:, :, 4:8].copy().view("<u4")  # (m, 8, 1): sign indices and the scale
    index = ix.reshape(m, 8, 4)
    np.right_shift(aux, _SHIFT7, out=index)
    index &= 127
    index <<= 8
    index |= q[:, :, 0:4]
    _gather(tables.iq2xxs_signed(), index, out)
    db = _half_scale(_fp16(b, 0)[:, :, None], aux >> 28, 0.25)
    o = out.reshape(m, 8, 32)
    o *= db


def dequantize_iq2_xxs(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ2_XXS blocks (n, 66) -> float32 (n, 256)."""
    return _run(blocks, 256, 32, _fill_iq2_xxs)


# -- IQ2_XS -------------------------------------------------------------------


def _fill_iq2_xs(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    # The whole u16 (sign index << 9 | grid index) is the fused table's row.
    ix[...] = b[:, 2:66].view("<u2")
    _gather(tables.iq2xs_signed(), ix, out)
    db = _half_scale(_fp16(b, 0), _nibbles(b[:, 66:74]).reshape(m, 16), 0.25)
    o = out.reshape(m, 16, 16)
    o *= db[:, :, None]


def dequantize_iq2_xs(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ2_XS blocks (n, 74) -> float32 (n, 256)."""
    return _run(blocks, 256, 32, _fill_iq2_xs)


# -- IQ2_S --------------------------------------------------------------------


def _fill_iq2_s(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    index = ix.reshape(m, 8, 4)
    np.right_shift(b[:, 66:74, None], _SHIFT2, out=index)  # qh: 2 high index bits per group
    index &= 3
    index <<= 8
    index |= b[:, 2:34].reshape(m, 8, 4)
    high = b[:, 34:66].reshape(m, 8, 4).astype(np.intp)  # explicit sign bytes
    high <<= 10
    index |= high
    _gather(tables.iq2s_signed(), index, out)
    db = _half_scale(_fp16(b, 0), _nibbles(b[:, 74:82]).reshape(m, 16), 0.25)
    o = out.reshape(m, 16, 16)
    o *= db[:, :, None]


def dequantize_iq2_s(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ2_S blocks (n, 82) -> float32 (n, 256)."""
    return _run(blocks, 256, 32, _fill_iq2_s)


# -- IQ3_XXS ------------------------------------------------------------------


def _fill_iq3_xxs(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    aux = b[:, 66:98].view("<u4")  # (m, 8): four 7-bit sign indices + 4-bit scale
    sign_index = (aux[:, :, None] >> _SHIFT7) & 127
    masks = tables.ksigns()[sign_index]  # (m, 8, 4) sign bytes, one per 8 values
    index = ix.reshape(m, 8, 4, 2)
    index[...] = _nibbles(masks)  # nibble h signs grid row qs[2l + h]
    index <<= 8
    index |= b[:, 2:66].reshape(m, 8, 4, 2)
    _gather(tables.iq3xxs_signed(), index, out)
    db = _half_scale(_fp16(b, 0), aux >> 28, 0.5)
    o = out.reshape(m, 8, 32)
    o *= db[:, :, None]


def dequantize_iq3_xxs(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ3_XXS blocks (n, 98) -> float32 (n, 256)."""
    return _run(blocks, 256, 64, _fill_iq3_xxs)


# -- IQ3_S --------------------------------------------------------------------


def _fill_iq3_s(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    index = ix.reshape(m, 8, 8)
    # Row t of 4 values in sub-block ib takes bit t of qh[ib] as grid index bit 8.
    np.right_shift(b[:, 66:74, None], _SHIFT_BIT, out=index)
    index &= 1
    index <<= 8
    index |= b[:, 2:66].reshape(m, 8, 8)
    signs = _nibbles(b[:, 74:106]).reshape(m, 8, 8).astype(np.intp)
    signs <<= 9
    index |= signs
    _gather(tables.iq3s_signed(), index, out)
    odd = _nibbles(b[:, 106:110]).reshape(m, 8).astype(np.int32)
    db = _fp16(b, 0) * (1 + 2 * odd).astype(_F32)  # ggml: d * (1 + 2*nibble), int then float
    o = out.reshape(m, 8, 32)
    o *= db[:, :, None]


def dequantize_iq3_s(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ3_S blocks (n, 110) -> float32 (n, 256)."""
    return _run(blocks, 256, 64, _fill_iq3_s)


# -- IQ1_S --------------------------------------------------------------------


def _fill_iq1_s(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    qh = b[:, 34:50].view("<u2")  # (m, 8)
    index = ix.reshape(m, 8, 4)
    np.right_shift(qh[:, :, None], _SHIFT3, out=index)
    index &= 7
    index <<= 8
    index |= b[:, 2:34].reshape(m, 8, 4)
    index |= ((qh >> 15).astype(np.intp) << 11)[:, :, None]  # delta sign picks the table half
    _gather(tables.iq1s_shifted(), index, out)
    dl = _fp16(b, 0) * (2 * ((qh >> 12) & 7) + 1).astype(_F32)
    o = out.reshape(m, 8, 32)
    o *= dl[:, :, None]


def dequantize_iq1_s(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ1_S blocks (n, 50) -> float32 (n, 256)."""
    return _run(blocks, 256, 32, _fill_iq1_s)


# -- IQ1_M --------------------------------------------------------------------


def iq1m_super_scale(words: np.ndarray) -> np.ndarray:
    """IQ1_M's fp16 scale from the top nibbles of its four u16 scale words (..., 4)."""
    w = words.astype(np.uint16)
    bits = (
        (w[..., 0] >> 12)
        | ((w[..., 1] >> 8) & 0x00F0)
        | ((w[..., 2] >> 4) & 0x0F00)
        | (w[..., 3] & 0xF000)
    )
    return bits.astype(np.uint16).view(np.float16).astype(_F32)


def _fill_iq1_m(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    sc = b[:, 48:56].view("<u2")  # (m, 4)
    # A qh nibble is 3 high index bits + the delta sign, which lands on bit 11: the table half.
    index = ix.reshape(m, 32)
    index[...] = _nibbles(b[:, 32:48]).reshape(m, 32)
    index <<= 8
    index |= b[:, 0:32]
    _gather(tables.iq1s_shifted(), index, out)
    d = iq1m_super_scale(sc)[:, None]
    # Scale t (16 values) is the 3-bit field t % 4 of word t // 4.
    s = (sc[:, :, None] >> _SHIFT3) & 7
    dl = d * (2 * s.reshape(m, 16) + 1).astype(_F32)
    o = out.reshape(m, 16, 16)
    o *= dl[:, :, None]


def dequantize_iq1_m(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ1_M blocks (n, 56) -> float32 (n, 256)."""
    return _run(blocks, 256, 32, _fill_iq1_m)


# -- IQ4_NL / IQ4_XS ----------------------------------------------------------


def _fill_iq4_nl(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    qs = b[:, 2:18]
    np.bitwise_and(qs, 0x0F, out=ix[:, :16])
    np.right_shift(qs, 4, out=ix[:, 16:])
    np.take(tables.kvalues_f32(), ix, out=out, mode="wrap")
    out *= _fp16(b, 0)


def dequantize_iq4_nl(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ4_NL blocks (n, 18) -> float32 (n, 32)."""
    return _run(blocks, 32, 32, _fill_iq4_nl)


def _fill_iq4_xs(b: np.ndarray, out: np.ndarray, ix: np.ndarray) -> None:
    m = b.shape[0]
    qs = b[:, 8:136].reshape(m, 8, 16)
    index = ix.reshape(m, 8, 2, 16)
    np.bitwise_and(qs, 0x0F, out=index[:, :, 0])
    np.right_shift(qs, 4, out=index[:, :, 1])
    np.take(tables.kvalues_f32(), ix, out=out, mode="wrap")
    low = _nibbles(b[:, 4:8]).reshape(m, 8).astype(np.int32)
    high = (b[:, 2:4].view("<u2").astype(np.int32) >> (2 * np.arange(8, dtype=np.int32))) & 3
    dl = _fp16(b, 0) * ((low | (high << 4)) - 32).astype(_F32)
    o = out.reshape(m, 8, 32)
    o *= dl[:, :, None]


def dequantize_iq4_xs(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
    """IQ4_XS blocks (n, 136) -> float32 (n, 256)."""
    return _run(blocks, 256, 256, _fill_iq4_xs)
