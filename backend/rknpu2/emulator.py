"""npu-sim: an emulator of the RKNPU2 matmul that consumes the board's native buffers.

It unpacks A and B with the platform's documented layouts, so a buffer
packed the wrong way gives the same garbage it would give on the NPU. Then:

* INT8×INT8→INT32 (``int8``): exact, bit-identical to an int64 reference.
* INT8×INT8→FP32 (``int8-fp32``): the exact int32 product times A's and B's
  scales (per-layer, per-channel or per-group B).
* FP16×FP16→FP32 / →FP16: fp16 inputs, fp32 accumulation. APPROXIMATE: the
  hardware's accumulation order and precision are undocumented.
* INT8×INT8→INT8 (``int8-int8``): affine requantization of the int32
  product, round half away from zero, saturate. UNCERTAIN: the hardware's
  rounding rule is unconfirmed.
* INT4×INT4→INT16 (``int4``): exact int32 product, saturated to int16.
  UNCERTAIN: wrap versus saturate is undocumented; overflow is possible
  once K > 511 and is counted in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import layout
from .platforms import MATMUL_TYPES, Platform, get_platform
from .requantize import round_half_away

# Each partial sum of 1024 int8 products has |sum| <= 1024·128² = 2**24,
# an integer float32 holds exactly, whatever order BLAS adds in.
_EXACT_CHUNK = 1024
#: B elements converted to float32 at a time (32 MiB): wide enough that BLAS runs at
#: full speed (1024-column blocks ran 5x slower on a 262,144-column output head), small
#: enough that the copy stays bounded. The blocking of N does not change any sum.
_BLOCK_ELEMENTS = 1 << 23


def exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``a @ b`` of int8 (or int4-valued) matrices as int64, through float32 BLAS.

    Either may also be integer-valued float32 (codes not yet cast to int8): no copy is made then.
    """
    a32 = np.asarray(a, dtype=np.float32)  # no copy when already float32
    b = np.asarray(b)
    k, n = b.shape
    out = np.zeros((a32.shape[0], n), dtype=np.int64)
    # K is cut into exact chunks; N into blocks of B converted to float32 one at a time:
    # a loop over at most (K/1024)·(N/block) blocks, not over tiles.
    width = max(_EXACT_CHUNK, _BLOCK_ELEMENTS // min(max(k, 1), _EXACT_CHUNK) // _EXACT_CHUNK * _EXACT_CHUNK)
    for n0 in range(0, n, width):
        n1 = n0 + width
        for k0 in range(0, k, _EXACT_CHUNK):
            k1 = k0 + _EXACT_CHUNK
            part = a32[:, k0:k1] @ b[k0:k1, n0:n1].astype(np.float32, copy=False)
            block = out[:, n0:n1]
            np.add(block, part, out=block, casting="unsafe")  # integer-valued float32 → int64, exact
    return out


@dataclass
class EmulatedRun:
    """One emulated matmul: native C plus what happened on the way."""

    c_native: np.ndarray
    c_dtype: str
    int32_product: Optional[np.ndarray] = None
    overflow_count: int = 0
    notes: list = field(default_factory=list)


def run(
    a_native: np.ndarray,
    b_native: np.ndarray,
    platform: "str | Platform",
    mm: str,
    M: int,
    K: int,
    N: int,
    *,
    a_scale: float = 1.0,
    b_scale: "np.ndarray | float" = 1.0,
    b_group: Optional[int] = None,
    c_scale: float = 1.0,
    c_zero_point: int = 0,
) -> EmulatedRun:
    """Emulate one NPU matmul on native buffers; returns native C.

    ``b_scale`` is a scalar (per-layer), an (N,) array (per-channel) or a
    (K/G, N) array with ``b_group`` = G (per-group, INT8→FP32 only), the
    runtime's ordering. Scales default to 1.0, as when the runtime is given
    no quant params.
    """
    p = platform if isinstance(platform, Platform) else get_platform(platform)
    t = p.matmul_type(mm)
    a = layout.unpack_a(a_native, p, t.a_dtype, M, K)
    b = layout.unpack_b(b_native, p, t.b_dtype, K, N)
    result = EmulatedRun(c_native=np.empty(0), c_dtype=t.c_dtype)
    if t.a_dtype == "fp16":
        c = a.astype(np.float32) @ b.astype(np.float32)
        result.notes.append("fp16 inputs, fp32 accumulation: approximate (the NPU's accumulation is undocumented)")
        if t.c_dtype == "fp16":
            c = c.astype(np.float16)
            result.notes.append("C fp16 native layout is undocumented; the int32 cell is assumed (UNCERTAIN)")
    else:
        if mm == "int8-fp32" and b_group:
            c = _per_group_product(a, b, np.asarray(b_scale, np.float32), b_group) * np.float32(a_scale)
            result.notes.append("per-group B: only INT8→FP32 accepts it; runtime 2.3.2 returned zeros (#550)")
        else:
            acc = exact_int_matmul(a, b)
            result.int32_product = acc.astype(np.int32)
            c = (result.int32_product if t.c_dtype == "int32"
                 else _finish_integer(acc, t.c_dtype, a_scale, b_scale, c_scale, c_zero_point, result))
    result.c_native = layout.pack_c(np.asarray(c), p, t.c_dtype)
    return result


def _finish_integer(acc, c_dtype, a_scale, b_scale, c_scale, c_zero, result: EmulatedRun) -> np.ndarray:
    if c_dtype == "int32":
        return acc.astype(np.int32)
    if c_dtype == "int16":
        overflow = np.abs(acc) > np.iinfo(np.int16).max
        result.overflow_count = int(np.count_nonzero(overflow))
        if result.overflow_count:
            result.notes.append(
                f"{result.overflow_count} int16 outputs overflowed and were saturated "
                "(UNCERTAIN: the NPU may wrap instead)"
            )
        return np.clip(acc, -32768, 32767).astype(np.int16)
    # A per-channel (N,) scale broadcasts along C's columns.
    scale = np.float64(a_scale) * np.asarray(b_scale, dtype=np.float64)
    if c_dtype == "fp32":
        return (acc * scale).astype(np.float32)
    # int8-int8: q = clip(round(acc·sa·sb/sc) + zp); rounding rule UNCERTAIN.
    result.notes.append("INT8 output: round half away from zero and saturate (UNCERTAIN on hardware)")
    q = round_half_away(acc * scale / np.float64(c_scale)) + c_zero
    return np.clip(q, -128, 127).astype(np.int8)


def _per_group_product(a: np.ndarray, b: np.ndarray, scale: np.ndarray, group: int) -> np.ndarray:
    """Σ_g sB[g, n] · (A_g @ B_g), each group's integer partial exact."""
    m, k = a.shape
    n = b.shape[1]
    pad = -k % group
    a = np.pad(a, ((0, 0), (0, pad))).astype(np.float32).reshape(m, -1, group).transpose(1, 0, 2)
    b = np.pad(b, ((0, pad), (0, 0))).astype(np.float32).reshape(-1, group, n)
    partials = np.matmul(a, b)  # (groups, M, N), exact: |partial| <= G·128² < 2**24 for G <= 1024
    return np.einsum("gmn,gn->mn", partials, scale.reshape(-1, n), dtype=np.float32)


__all__ = ["EmulatedRun", "MATMUL_TYPES", "exact_int_matmul", "run"]
