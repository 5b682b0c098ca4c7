"""``rk-community``: the community RKNPU2 backend's pipelines computed exactly as it computes them.

Weight side, once per weight (:meth:`CommunityBackend.prepare`): dequantize,
rotate (Hadamard pipelines), cut into K segments × core segments, calibrate
and quantize, keeping a scale grid [K segment][N]. Activation side, per
matmul (:meth:`CommunityBackend.matmul_prepared`): rotate each row with the
same signs, then per K segment: per-row scales, codes, the NPU's exact
integer product (BLAS on integer-valued floats: float32 while every sum fits
its 24-bit mantissa, float64 beyond, exact either way),
and the float32 rescale C·(sB·(sA/hdiv)) accumulated over K segments in
order. The fork options (:mod:`.options`) change single steps.

The result's ``details["unconfirmed"]`` lists what this run relies on that
could not be confirmed (:data:`.options.UNCONFIRMED`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..base import Backend, MatmulResult, TensorLike
from ..rknpu2.requantize import round_half_away
from . import calibration, hadamard
from .options import FP16_ACCUMULATION, UNCONFIRMED, CommunityOptions
from .pipelines import Pipeline, get_pipeline
from .split import k_segments, m_op, n_segments, offsets, parse_cores, soc

_F32 = np.float32
Checkpoint = Callable[[], None]


@dataclass
class CommunityWeight:
    """A weight as the backend holds it: codes and scales per K segment, and the float weight they stand for.

    ``codes[s]`` is (N, K_seg) int8 (INT8/INT4 codes) or float16; ``scale`` is
    float32 [K segment][N] (ones for FP16); ``values`` is the (N, K) float32
    weight the codes are equivalent to, rotated back for Hadamard pipelines.
    """

    codes: list
    scale: np.ndarray
    values: Optional[np.ndarray]
    signs: Optional[np.ndarray]
    clipped: int = 0


@dataclass
class PreparedCommunity:
    """A weight prepared once for many inputs: the dequantized ``values`` (N, K) and ``requantized``."""

    weight: TensorLike
    values: Optional[np.ndarray]
    requantized: CommunityWeight
    seconds: float
    block_scales: list = field(default_factory=list)


class CommunityBackend(Backend):
    """One community pipeline (``pipeline``) on ``platform`` with ``cores`` (``RKNPU_CORES``) and fork options."""

    name = "rk-community"

    def __init__(self, pipeline: str = "W8A8_STANDARD", platform: str = "rk3588",
                 cores: "str | tuple | None" = None, m_align: int = 64,
                 options: "CommunityOptions | None" = None, **forks):
        self.pipeline: Pipeline = get_pipeline(pipeline)
        self.platform = str(platform).strip().lower()
        self.k_limit, default_cores = soc(self.platform)
        self.cores = parse_cores(cores, default_cores)
        self.m_align = int(m_align)
        self.options = options if options is not None else CommunityOptions(**forks)
        if options is not None and forks:
            raise ValueError("give fork options either as options= or as keywords, not both")

    # -- geometry ----------------------------------------------------------------------------------------

    def k_op(self, k: int) -> int:
        """K after the rotation (K for STANDARD pipelines)."""
        return hadamard.k_op(k, self.options.hadamard_blocks) if self.pipeline.hadamard else k

    def hdiv(self, k: int) -> int:
        """What the output is divided by: the transform length (1 without rotation)."""
        return hadamard.divisor(k, self.options.hadamard_blocks) if self.pipeline.hadamard else 1

    def k_bounds(self, k: int) -> list[tuple[int, int]]:
        """``(start, stop)`` of the K segments of the (rotated) K."""
        return offsets(k_segments(self.k_op(k), self.k_limit))

    def n_bounds(self, n: int) -> list[tuple[int, int]]:
        """``(start, stop)`` of the N segment of each core."""
        return offsets(n_segments(n, len(self.cores), self.pipeline.n_align))

    def signs(self, weight: TensorLike, k: int) -> Optional[np.ndarray]:
        """The tensor's ±1 vector (length K_op, the first K used), or None without rotation."""
        if not self.pipeline.hadamard:
            return None
        return hadamard.sign_vector(self.options.seed, weight.name, self.k_op(k))

    def _rotate(self, values: np.ndarray, signs: Optional[np.ndarray]) -> np.ndarray:
        if signs is None:
            return np.ascontiguousarray(values, dtype=_F32)
        return hadamard.rotate(values, signs, self.options.hadamard_blocks)

    # -- weight side -------------------------------------------------------------------------------------

    def prepare(self, weight: TensorLike, values: "np.ndarray | None" = None,
                checkpoint: "Checkpoint | None" = None, keep_values: bool = True) -> PreparedCommunity:
        """Dequantize (unless ``values`` are given), rotate, calibrate and quantize ``weight`` once.

        ``keep_values=False`` keeps the codes and scales only (``values`` and
        ``requantized.values`` are None): all a run that only multiplies needs,
        without two float copies of the weight.
        """
        weight.require_data("requantize")
        t0 = time.perf_counter()
        w = np.ascontiguousarray(weight.dequantize() if values is None else values, dtype=_F32)
        n, k = w.shape
        signs = self.signs(weight, k)
        rotated = self._rotate(w, signs)
        # Scratch we may overwrite: a rotation's fresh output, or a fresh dequantization nobody keeps.
        # (Preparing a 262k-row head held four float copies of it before; now two.)
        scratch = signs is not None or (not keep_values and values is None and rotated.flags.owndata
                                        and rotated.flags.writeable)
        if signs is not None and not keep_values:
            w = None  # the rotated copy is all that is needed from here
        p, o = self.pipeline, self.options
        codes, scales, block_scales, clipped = [], [], [], 0
        for k0, k1 in self.k_bounds(k):
            if checkpoint is not None:
                checkpoint()
            seg = rotated[:, k0:k1]
            if p.bits == 16:
                codes.append(seg.astype(np.float16))
                scales.append(np.ones(n, dtype=_F32))
                continue
            scale = self._weight_scale(seg, block_scales)
            # Rounding the float32 quotient itself: its truncation and fraction are exact, as in float64.
            q = round_half_away(np.multiply(seg, (_F32(1) / scale)[:, None], out=seg if scratch else None))
            if p.bits == 4:
                np.clip(q, -7, 7, out=q)
            else:
                clipped += int(np.count_nonzero(q > 127)) + int(np.count_nonzero(q < -127))
                q = _clip_int8(q, o.clipped_weights)
            codes.append(q.astype(np.int8))
            scales.append(scale)
        scale = np.stack(scales)
        equivalent = self._equivalent(codes, scale, signs, k) if keep_values else None
        rw = CommunityWeight(codes, scale, equivalent, signs, clipped)
        return PreparedCommunity(weight, w if keep_values else None, rw, time.perf_counter() - t0, block_scales)

    def _weight_scale(self, seg: np.ndarray, block_scales: list) -> np.ndarray:
        """float32 (N,) scales of one K segment: per channel, or one per core block copied to its columns."""
        p, o = self.pipeline, self.options
        n = seg.shape[0]
        if p.bits == 8 and o.int8_weight_scale == "per-channel":
            amax = {"max": calibration.max_amax,
                    "percentile": calibration.percentile_amax,
                    "mse": lambda rows: calibration.mse_amax(rows, cast=o.search_cast)}[o.w8_calib](seg)
            return _scale_of(amax, 127)
        if p.bits == 4 and o.int4_weight_scale == "per-channel-amax":
            return _scale_of(_F32(o.weight_clip) * calibration.max_amax(seg), 7)
        scale = np.empty(n, dtype=_F32)
        for n0, n1 in self.n_bounds(n):  # one block per core: at most a few
            block = seg[n0:n1]
            if p.bits == 8:
                amax = calibration.max_amax(block.reshape(1, -1))
                scale[n0:n1] = _scale_of(amax, 127)[0]
            else:
                amax = calibration.kl_amax(block, cast=o.search_cast)
                scale[n0:n1] = _scale_of(np.array([_F32(o.weight_clip) * amax], _F32), 7)[0]
            block_scales.append(float(scale[n0]))
        return scale

    def _equivalent(self, codes: list, scale: np.ndarray, signs, k: int) -> np.ndarray:
        """The (N, K) float32 weight the codes stand for: codes·scale, rotated back and divided by hdiv."""
        back = np.concatenate([c.astype(_F32) * scale[i][:, None] for i, c in enumerate(codes)], axis=1)
        if signs is None:
            return back
        block = hadamard.block_length(k, self.options.hadamard_blocks)
        hadamard.fwht(back.reshape(back.shape[0], -1, block))
        return (back[:, :k] / _F32(self.hdiv(k)) * signs[:k]).astype(_F32)

    # -- activation side, product, rescale ---------------------------------------------------------------

    def _matmul(self, weight: TensorLike, x: np.ndarray) -> MatmulResult:
        return self.matmul_prepared(self.prepare(weight), x)

    def matmul_prepared(self, prepared: PreparedCommunity, x: np.ndarray,
                        checkpoint: "Checkpoint | None" = None) -> MatmulResult:
        """Y = X @ Wᵀ for a weight through :meth:`prepare`: the activation side, the products and the rescale."""
        x = self.check(prepared.weight, x)
        t0 = time.perf_counter()
        p, o, rw = self.pipeline, self.options, prepared.requantized
        m, k = x.shape
        n = rw.scale.shape[1]
        rotated = self._rotate(x, rw.signs)
        hdiv = _F32(self.hdiv(k))
        # Few (M, N) arrays at a time: with a 262k-token vocabulary and M = 512 each one is 0.5–1 GiB.
        y = np.zeros((m, n), dtype=_F32)
        raw = None
        act_scales, overflows = [], 0
        for s, (k0, k1) in enumerate(self.k_bounds(k)):
            if checkpoint is not None:
                checkpoint()
            seg = rotated[:, k0:k1]
            if p.bits == 16:
                c = seg.astype(np.float16).astype(_F32) @ rw.codes[s].astype(_F32).T
                factor = _F32(1) / hdiv
            else:
                a_codes, s_a = self.quantize_activations(seg)
                act_scales.append(s_a)
                product = _exact_product(a_codes, rw.codes[s], p.qmax)
                if p.bits == 4:
                    overflows += int(np.count_nonzero(product > 32767)) + int(np.count_nonzero(product < -32767))
                    product = _int16(product, o.int4_overflow)
                whole = product.astype(np.int64)
                raw = whole if raw is None else np.add(raw, whole, out=raw)
                del whole
                c = product if product.dtype == _F32 else product.astype(_F32)
                del product
                s_b = rw.scale[s][None, :]
                if o.rescale_order == "org":
                    factor = s_b * (s_a[:, None] / hdiv)
                else:
                    factor = (s_a[:, None] * s_b) / hdiv
            np.multiply(c, factor, out=c)
            del factor
            y += c  # float32, K segments in order (0 + first term is the first term)
            del c
        details = self._details(prepared, m, k, n, act_scales, overflows, time.perf_counter() - t0)
        return MatmulResult(y, details, raw=raw)

    def quantize_activations(self, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codes (float64, integer-valued) and float32 per-row scales of one K segment of the rotated X."""
        p, o = self.pipeline, self.options
        amax = np.abs(seg).max(axis=1).astype(_F32)
        if p.bits == 4:
            amax = (_F32(o.activation_clip) * amax).astype(_F32)
        s_a = (amax / _F32(p.qmax)).astype(_F32)
        with np.errstate(divide="ignore"):
            iscale = np.where(s_a == 0, _F32(0), _F32(1) / s_a).astype(_F32)
        product = seg * iscale[:, None]
        if p.bits == 8 and o.activation_rounding == "half-even":
            codes = np.clip(np.rint(product).astype(np.float64), -127, 127)
        else:
            codes = round_half_away(product.astype(np.float64))
            if p.bits == 4:
                codes = np.clip(codes, -7, 7)
        return codes, s_a

    def unconfirmed(self, clipped_weights: bool = False) -> list[str]:
        """What a run of this pipeline relies on that could not be confirmed (:data:`.options.UNCONFIRMED`).

        ``clipped_weights``: some INT8 weight codes were past ±127 (percentile/mse), so ORG's unknown
        quantizer matters.
        """
        p, o = self.pipeline, self.options
        keys = ["dequantize", "fma"]
        if p.bits == 16:
            keys.append("fp16-accumulation")
        if p.bits == 4:
            keys.append("int4-overflow")
        if (p.bits == 8 and o.int8_weight_scale == "per-channel" and o.w8_calib == "mse") or \
                (p.bits == 4 and o.int4_weight_scale == "block-kl"):
            keys.append("search-cast")
        if p.bits == 8 and clipped_weights:
            keys.append("clipped-weights")
        if p.hadamard:
            keys.append("signs")
        return [UNCONFIRMED[key].format(**o.to_dict()) for key in keys]

    def _details(self, prepared: PreparedCommunity, m: int, k: int, n: int, act_scales: list,
                 overflows: int, seconds: float) -> dict:
        p, o, rw = self.pipeline, self.options, prepared.requantized
        unconfirmed = self.unconfirmed(bool(rw.clipped))
        a_scale = np.stack(act_scales, axis=1) if act_scales else np.ones((m, 1), _F32)
        return {
            "backend": self.name,
            "pipeline": p.name,
            "types": {"A": p.a_type, "B": p.b_type, "C": p.c_type},
            "rknn_matmul_type": p.rknn_type,
            "platform": self.platform,
            "cores": list(self.cores),
            "options": o.to_dict(),
            "seed": o.seed,
            "M": m, "K": k, "N": n,
            "M_op": m_op(m, self.m_align),
            "K_op": self.k_op(k),
            "hdiv": self.hdiv(k),
            "k_segments": k_segments(self.k_op(k), self.k_limit),
            "n_segments": n_segments(n, len(self.cores), p.n_align),
            "weight_scale": _summary(rw.scale) if p.integer else None,
            "weight_block_scales": len(prepared.block_scales),
            "act_scale": _summary(a_scale) if p.integer else None,
            "clipped_weight_codes": rw.clipped,
            "int16_overflows": overflows,
            "fp16_accumulation": FP16_ACCUMULATION if p.bits == 16 else None,
            "exact": p.integer,
            "unconfirmed": unconfirmed,
            "notes": [f"K {k} is not a multiple of 32: the backend would keep this weight on the CPU"] * (k % 32 != 0)
                     + [f"N {n} is not a multiple of {p.n_align}: the backend would keep this weight on the CPU"]
                     * (n % p.n_align != 0),
            "seconds": {"requantize": prepared.seconds, "matmul": seconds},
        }


def _scale_of(amax: np.ndarray, qmax: int) -> np.ndarray:
    """amax/qmax in float32, 1 where amax is 0."""
    amax = np.asarray(amax, dtype=_F32)
    return np.where(amax == 0, _F32(1), amax / _F32(qmax)).astype(_F32)


def _clip_int8(q: np.ndarray, mode: str) -> np.ndarray:
    """INT8 weight codes past ±127: clamped to ±127, saturated to [−128, 127], or wrapped mod 256."""
    if mode == "clamp":
        return np.clip(q, -127, 127, out=q)
    if mode == "saturate":
        return np.clip(q, -128, 127, out=q)
    return (q.astype(np.int64) + 128) % 256 - 128


def _exact_product(a_codes: np.ndarray, w_codes: np.ndarray, qmax: int) -> np.ndarray:
    """Σ a·w over one K segment, exact: float32 BLAS while every sum fits its 24-bit mantissa, else float64.

    |Σ a·w| ≤ qmax²·K, so INT8 segments up to K = 1040 and every INT4 segment
    below K = 342,000 are exact in float32, at about half float64's time and
    a quarter of its conversion traffic (the output head of a 262k vocabulary
    is the largest matmul of a small model). Integer-valued floats out.
    """
    dtype = np.float32 if qmax * qmax * a_codes.shape[1] < 2 ** 24 else np.float64
    return a_codes.astype(dtype) @ w_codes.astype(dtype).T


def _int16(product: np.ndarray, mode: str) -> np.ndarray:
    """The int16 C of an INT4 product: saturated, or wrapped mod 2^16 (UNCONFIRMED which)."""
    if mode == "saturate":
        return np.clip(product, -32768, 32767)
    return ((product.astype(np.int64) + 32768) % 65536 - 32768).astype(np.float64)


def _summary(scale: np.ndarray) -> dict:
    scale = np.asarray(scale, dtype=np.float64)
    return {"shape": list(scale.shape), "min": float(scale.min()), "max": float(scale.max())}
