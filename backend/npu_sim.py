"""``npu-sim``: the whole NPU path off the board, through the exact emulator.

Dequantize W → requantize W and X with the chosen schemes → pack native
A and B for the platform → emulate the matmul on those buffers → unpack C →
rescale on the CPU. Per-token activation scales and per-channel weight
scales of INT32 outputs are applied on the CPU, as a real backend must
(A and C accept per-layer parameters only).
"""

from __future__ import annotations

import time

import numpy as np

from .base import Backend, MatmulResult
from .rknpu2 import emulator, layout
from .rknpu2.platforms import DEFAULT_PLATFORM, get_platform
from .rknpu2.requantize import parse_scheme, requantize

_BITS = {"int8": 8, "int4": 4, "fp16": 16}
WEIGHT_SCHEMES = ("per-tensor", "per-channel", "per-group", "fixed")
ACT_SCHEMES = ("per-tensor", "per-token", "fixed")


class NpuSimBackend(Backend):
    """The RKNPU2 matmul emulated exactly on native-layout buffers."""

    name = "npu-sim"

    def __init__(self, platform: str = DEFAULT_PLATFORM, mm: str = "int8",
                 weight_quant: str = "per-channel", act_quant: str = "per-tensor"):
        self.platform = get_platform(platform)
        self.mm = self.platform.matmul_type(mm)
        self.weight_quant = parse_scheme(weight_quant)
        self.act_quant = parse_scheme(act_quant)
        if self.weight_quant.kind not in WEIGHT_SCHEMES:
            raise ValueError(f"weight scheme {self.weight_quant} is not one of {', '.join(WEIGHT_SCHEMES)}")
        if self.act_quant.kind not in ACT_SCHEMES:
            raise ValueError(f"activation scheme {self.act_quant} is not one of {', '.join(ACT_SCHEMES)}")
        if self.weight_quant.kind == "per-group" and self.mm.name != "int8-fp32":
            raise ValueError(
                f"per-group weights need --mm int8-fp32: on {self.platform.name} only INT8→FP32 "
                "takes per-group B (and runtime 2.3.2 returned zeros for it, #550)"
            )

    def _matmul(self, weight, x: np.ndarray) -> MatmulResult:
        t0 = time.perf_counter()
        p, t = self.platform, self.mm
        m, k = x.shape
        n = weight.n_rows
        bits = _BITS[t.a_dtype]
        w = weight.dequantize()
        rw = requantize(w, self.weight_quant, bits)
        rx = requantize(x, self.act_quant, bits)
        t_quant = time.perf_counter()
        a_native = layout.pack_a(rx.codes, p, t.a_dtype)
        # A transposed view: the packer tiles Bᵀ = W rows directly, without a copy.
        b_native = layout.pack_b(rw.codes.T, p, t.b_dtype)
        t_pack = time.perf_counter()
        options = self._runtime_scales(rw, rx, k, n)
        run = emulator.run(a_native, b_native, p, t.name, m, k, n, **options)
        t_run = time.perf_counter()
        c = layout.unpack_c(run.c_native, p, t.c_dtype, m, n)
        y = self._rescale(c, rw, rx, options)
        details = {
            "backend": self.name,
            "platform": p.name,
            "mm": t.name,
            "rknn_matmul_type": f"{t.rknn_name} ({t.rknn_value})",
            "weight_quant": str(self.weight_quant),
            "act_quant": str(self.act_quant),
            "code_dtype": t.a_dtype,
            "c_dtype": t.c_dtype,
            "M": m, "K": k, "N": n,
            "K_padded": p.padded_k(k, t.b_dtype), "N_padded": p.padded_n(n, t.b_dtype),
            "k_segments": p.k_segments(k),
            "native_shapes": {
                "A": layout.native_shape("A", p, t.a_dtype, m, k, n),
                "B": layout.native_shape("B", p, t.b_dtype, m, k, n),
                "C": layout.native_shape("C", p, t.name, m, k, n),
            },
            "weight_scale": _summary(rw.scale),
            "act_scale": _summary(rx.scale),
            "runtime_scales": {key: _summary(np.asarray(v)) for key, v in options.items()},
            "int16_overflows": run.overflow_count,
            "exact": t.exact,
            "notes": [*run.notes, *rw.notes, *rx.notes, t.note,
                      f"weights {self.weight_quant}: {self.weight_quant.hardware_limit}",
                      f"activations {self.act_quant}: {self.act_quant.hardware_limit}"],
            "seconds": {"requantize": t_quant - t0, "pack": t_pack - t_quant,
                        "emulate": t_run - t_pack, "total": time.perf_counter() - t0},
        }
        return MatmulResult(y.astype(np.float32), details)

    def _runtime_scales(self, rw, rx, k: int, n: int) -> dict:
        """Quant params the runtime would get; the rest is applied on the CPU."""
        t = self.mm
        if t.a_dtype == "fp16" or t.c_dtype in ("int32", "int16"):
            return {}  # codes only; every scale is applied on the CPU afterwards
        per_layer_a = self.act_quant.kind != "per-token"
        a_scale = float(rx.scale.reshape(-1)[0]) if per_layer_a else 1.0
        if self.weight_quant.kind == "per-group":
            # The runtime's per-group order is row-major [K/G, N].
            return {"a_scale": a_scale, "b_scale": np.ascontiguousarray(rw.scale.T), "b_group": self.weight_quant.group}
        b_scale = rw.scale.reshape(-1) if rw.scale.size > 1 else float(rw.scale.reshape(-1)[0])
        options = {"a_scale": a_scale, "b_scale": b_scale}
        if t.c_dtype == "int8":
            # A calibrated output scale: the largest |Y| maps to 127.
            acc = np.abs(rx.codes.astype(np.float32) @ rw.codes.T.astype(np.float32)).max()
            peak = acc * a_scale * (np.max(np.abs(b_scale)) if np.ndim(b_scale) else abs(b_scale))
            options["c_scale"] = float(peak / 127) if peak > 0 else 1.0
        return options

    def _rescale(self, c: np.ndarray, rw, rx, options: dict) -> np.ndarray:
        t = self.mm
        if t.a_dtype == "fp16":
            return c.astype(np.float32)
        y = c.astype(np.float64)
        if t.c_dtype == "int8":
            y = y * options["c_scale"]
        if "a_scale" not in options or self.act_quant.kind == "per-token":
            y = y * rx.scale.astype(np.float64).reshape(-1, 1)  # per-row (or single) A scale on the CPU
        if "b_scale" not in options:
            y = y * rw.scale.astype(np.float64).reshape(1, -1)  # per-channel (or single) B scale on the CPU
        return y


def _summary(scale: np.ndarray) -> dict:
    scale = np.asarray(scale, dtype=np.float64)
    return {"shape": list(scale.shape), "min": float(scale.min()), "max": float(scale.max())}
