"""``cpu-numpy``: a numpy twin of ggml's CPU matmul semantics.

The activations are converted to the weight type's ``vec_dot_type`` exactly
as ggml's reference quantizers do (Q8_0, Q8_1 with its fp16-rounded sum,
Q8_K, F16, BF16), the weights are dequantized bit-exactly, and the product
is taken in float64. Against ggml this reaches NMSE ~1e-14 (ggml-formats.md
§4.5); only the float accumulation order differs.
"""

from __future__ import annotations

import time

import numpy as np

from .base import Backend, MatmulResult, TensorLike
from .rknpu2.requantize import round_half_away


def quantize_q8_0(x: np.ndarray, with_sum: bool = False):
    """Q8_0 (and Q8_1) activations: per 32 values d = amax/127, q = round(x/d).

    Returns ``(d16 (M, K/32) float32, q (M, K/32, 32) int8[, s (M, K/32) float32])``.
    """
    blocks = x.reshape(x.shape[0], -1, 32)
    amax = np.fmax.reduce(np.abs(blocks), axis=2)  # ggml's SIMD max passes over a NaN, as fmax does
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
        scaled = (blocks * inv[..., None]).astype(np.float64)
    # C roundf of the float32 product x·id, decided exactly in float64. A NaN input is coded 0: what
    # ggml makes of one depends on the CPU's SIMD code, so this twin only approximates it there.
    scaled[np.isnan(scaled)] = 0
    q = round_half_away(scaled).astype(np.int8)
    d16 = d.astype(np.float16).astype(np.float32)
    if not with_sum:
        return d16, q
    s = (d * q.sum(axis=2, dtype=np.int32).astype(np.float32)).astype(np.float16).astype(np.float32)
    return d16, q, s


def quantize_q8_k(x: np.ndarray):
    """Q8_K activations: per 256 values iscale = −127/max (signed), nearest-even, clamp ≤ 127."""
    blocks = x.reshape(x.shape[0], -1, 256)
    magnitude = np.abs(blocks)
    magnitude[np.isnan(magnitude)] = 0  # a NaN never wins the max
    idx = magnitude.argmax(axis=2)  # the first of equal |x| wins, as in ggml
    peak = np.take_along_axis(blocks, idx[..., None], axis=2)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = np.where(peak != 0, np.float32(-127) / peak, np.float32(0)).astype(np.float32)
        scaled = np.rint(blocks * iscale[..., None])
        scaled[np.isnan(scaled)] = 0  # a NaN input is coded 0
        q = np.minimum(scaled, 127).astype(np.int8)
        d = np.where(peak != 0, np.float32(1) / iscale, np.float32(0)).astype(np.float32)
    return d, q


def to_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest even), returned as float32."""
    bits = x.astype(np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return np.where(np.isnan(x), x, rounded.view(np.float32))


def activations_as_ggml_sees_them(x: np.ndarray, vec_dot_type: str) -> np.ndarray:
    """X after conversion to ``vec_dot_type`` and back, as float64."""
    if vec_dot_type == "F32":
        return x.astype(np.float64)
    if vec_dot_type == "F16":
        return x.astype(np.float16).astype(np.float64)
    if vec_dot_type == "BF16":
        return to_bf16(x).astype(np.float64)
    if vec_dot_type in ("Q8_0", "Q8_1"):
        d, q = quantize_q8_0(x)[:2]
    elif vec_dot_type == "Q8_K":
        d, q = quantize_q8_k(x)
    else:
        raise ValueError(f"no activation conversion for vec_dot_type {vec_dot_type}")
    blocks = q.astype(np.float64) * d[..., None]
    # A block holding ±inf has an infinite scale in ggml, so every product of it is NaN.
    blocks[np.isinf(x).reshape(blocks.shape).any(axis=-1)] = np.nan
    return blocks.reshape(x.shape)


def _q8_1_sum_correction(weight: TensorLike, x: np.ndarray) -> np.ndarray:
    """ggml's Q4_1/Q5_1 dot uses s = fp16(d·Σq), not fp16(d)·Σq: the difference times each block's min."""
    d16, q, s = quantize_q8_0(x, with_sum=True)
    delta = (s.astype(np.float64) - d16.astype(np.float64) * q.sum(axis=2, dtype=np.int64))  # (M, K/32)
    blocks = weight.raw().reshape(weight.n_rows, -1, weight.type.type_size)
    mins = blocks[:, :, 2:4].copy().view("<f2")[..., 0].astype(np.float64)  # m @2 in Q4_1 and Q5_1
    return delta @ mins.T


class NumpyCpuBackend(Backend):
    """ggml's CPU semantics in numpy: exact activation conversion, float64 product."""

    name = "cpu-numpy"

    def _matmul(self, weight: TensorLike, x: np.ndarray) -> MatmulResult:
        t0 = time.perf_counter()
        vdt = weight.type.vec_dot_type
        # NaN and ±inf in W or X flow into Y as they do in ggml; the comparison reports them, numpy must not warn.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            xq = activations_as_ggml_sees_them(x, vdt)
            w = weight.dequantize().astype(np.float64)
            y = xq @ w.T
            if vdt == "Q8_1":
                y += _q8_1_sum_correction(weight, x)
            y = y.astype(np.float32)
        details = {
            "backend": self.name,
            "weight_type": weight.type.name,
            "activation_type": vdt,
            "accumulation": "float64",
            "seconds": time.perf_counter() - t0,
        }
        with np.errstate(invalid="ignore"):  # inf + -inf is NaN: still not finite
            finite_x = bool(np.isfinite(np.sum(x, dtype=np.float64)))
        if not finite_x and vdt not in ("F32", "F16", "BF16"):
            details["notes"] = [f"X holds NaN or inf: ggml's conversion of them to {vdt} depends on the CPU's SIMD "
                                "code; cpu-numpy codes NaN 0 and loses a block with ±inf, so it only approximates ggml"]
        return MatmulResult(y, details)
