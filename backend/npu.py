"""``npu``: the real RKNPU2 NPU through librknnrt's matmul API (on the board only).

It runs the same pipeline as ``npu-sim`` (requantization, call plan, our own
native packing, CPU rescaling); each call goes to the runtime through
``rknpu2.runtime``. One single-core context per call, created and destroyed
around it, so nothing is left allocated when a call fails. Off the board the
backend is unavailable and says why.

UNVERIFIED on hardware: tested against the fake librknnrt only; every result
carries a note saying so.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .base import BackendUnavailable, MatmulResult
from .npu_pipeline import NpuPipelineBackend
from .rknpu2.platforms import DEFAULT_PLATFORM
from .rknpu2.rknn_api import SINGLE_CORE_MASKS
from .rknpu2.runtime import Runtime, RuntimeUnavailable


class NpuBackend(NpuPipelineBackend):
    """The matmul on the NPU itself; ``core`` picks NPU core 0, 1 or 2."""

    name = "npu"

    def __init__(self, platform: str = DEFAULT_PLATFORM, mm: str = "int8",
                 weight_quant: str = "per-channel", act_quant: str = "per-tensor",
                 core: int = 0, library: "str | None" = None):
        super().__init__(platform=platform, mm=mm, weight_quant=weight_quant, act_quant=act_quant)
        if core not in SINGLE_CORE_MASKS:
            raise ValueError(f"NPU core must be one of {', '.join(map(str, SINGLE_CORE_MASKS))}: "
                             "the matmul API rejects multi-core masks")
        self.core = core
        try:
            self.runtime = Runtime(library)
        except RuntimeUnavailable as exc:
            raise BackendUnavailable(str(exc)) from None
        if not self.runtime.supports(self.mm.name):
            raise BackendUnavailable(
                f"{self.runtime.describe()} has no {self.mm.rknn_name}; use --mm int8, update librknnrt, "
                "or use --backend npu-sim"
            )

    def matmul_prepared(self, prepared, x: np.ndarray, checkpoint=None) -> MatmulResult:
        """The pipeline's matmul, with the runtime and NPU core added to the details."""
        result = super().matmul_prepared(prepared, x, checkpoint)
        result.details["runtime"] = self.runtime.describe()
        result.details["npu_core"] = self.core
        result.details["notes"].append("the npu backend has been tested against a fake librknnrt only, "
                                       "not yet on RK3588 hardware (UNCERTAIN)")
        return result

    @contextlib.contextmanager
    def session(self):
        """Each call runs on the NPU through librknnrt, one single-core context per call."""
        p, t = self.platform, self.mm

        def execute(call, a_native, b_native, scales):
            k_pad, n_pad = p.padded_k(call.k, t.b_dtype), p.padded_n(call.n, t.b_dtype)
            b_scale, b_quant = _padded_b_scale(scales.get("b_scale"), scales.get("b_group"), k_pad, n_pad)
            with self.runtime.call(p, t.name, call.m, k_pad, n_pad, core=self.core, b_quant=b_quant,
                                   group=scales.get("b_group") or 0) as matmul:
                matmul.set_scales(a_scale=scales.get("a_scale"), b_scale=b_scale, c_scale=scales.get("c_scale"))
                return matmul.run(a_native, b_native)

        yield execute


def _padded_b_scale(b_scale, group, k_pad: int, n_pad: int):
    """B's scales padded to the padded K and N the runtime sees (padding columns get scale 1)."""
    if b_scale is None or np.ndim(b_scale) == 0:
        return b_scale, "per-layer"
    scale = np.asarray(b_scale, dtype=np.float32)
    if group:
        out = np.ones((k_pad // group, n_pad), dtype=np.float32)
        out[: scale.shape[0], : scale.shape[1]] = scale
        return out, "per-group"
    out = np.ones(n_pad, dtype=np.float32)
    out[: scale.size] = scale
    return out, "per-channel"
