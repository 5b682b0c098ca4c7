"""Probe which matmul types the board's runtime really runs: a tiny matmul per type.

Creating a context is not enough: runtime 2.2 and 2.3.2 were reported to
create and run some types and return all zeros (airockchip/rknn-toolkit2
#154, #550). So each probe runs a small matmul with known codes and checks
the result against the exact emulator fed the same native buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import emulator, layout
from .platforms import MATMUL_TYPES, Platform
from .rknn_api import RknnError
from .runtime import LayoutMismatch, Runtime

_M = 2


@dataclass
class Probe:
    """The outcome for one matmul type: ``status`` is ok, wrong, refused or absent."""

    mm: str
    status: str
    detail: str
    findings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the type created, ran and matched the emulator."""
        return self.status == "ok"


def _codes(t, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Small deterministic A (M, K) and B (K, N) in the input dtype, with both signs."""
    i = np.arange(m * k).reshape(m, k)
    j = np.arange(k * n).reshape(k, n)
    span = 7 if t.a_dtype == "int4" else 15
    a = (i * 7 + 3) % (2 * span + 1) - span
    b = (j * 5 + 1) % (2 * span + 1) - span
    if t.a_dtype == "fp16":
        return (a / 8).astype(np.float16), (b / 8).astype(np.float16)
    return a.astype(np.int8), b.astype(np.int8)


def _scales(t) -> dict:
    if t.c_dtype == "fp32" and t.a_dtype == "int8":
        return {"a_scale": 0.5, "b_scale": 0.25}
    if t.c_dtype == "int8":
        return {"a_scale": 1.0, "b_scale": 1.0, "c_scale": 16.0}
    return {}


def probe_type(runtime: Runtime, platform: Platform, mm: str, core: int = 0) -> Probe:
    """Create, run and check one tiny matmul of type ``mm``."""
    t = MATMUL_TYPES[mm]
    if not runtime.supports(mm):
        return Probe(mm, "absent", f"{t.rknn_name} is not in API generation {runtime.generation.name}")
    k, n = platform.padded_k(64, t.b_dtype), platform.padded_n(64, t.b_dtype)
    a, b = _codes(t, _M, k, n)
    a_native, b_native = layout.pack_a(a, platform, t.a_dtype), layout.pack_b(b, platform, t.b_dtype)
    scales = _scales(t)
    try:
        with runtime.call(platform, mm, _M, k, n, core=core) as matmul:
            matmul.set_scales(**scales)
            out = matmul.run(a_native, b_native)
    except (RknnError, LayoutMismatch) as exc:
        return Probe(mm, "refused", str(exc))
    expected = emulator.run(a_native, b_native, platform, mm, _M, k, n, **scales).c_native
    got = out.c_native
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    if t.exact:
        same, how = not diff.any(), "bit for bit"
    elif t.c_dtype == "int8":
        # The INT8 output's rounding rule is UNCERTAIN: one step off is a rounding finding, not a failure.
        same = bool(diff.max() <= 1)
        how = "bit for bit" if not diff.any() else "within one step (the rounding rule differs: a finding)"
    else:
        same = bool(np.allclose(got.astype(np.float64), expected, rtol=1e-2, atol=1e-2))
        how = "within fp16 tolerance" if t.a_dtype == "fp16" else "within float rounding"
    if same:
        return Probe(mm, "ok", f"{t.rknn_name}: created, ran M={_M} K={k} N={n}, matches the emulator {how}",
                     out.findings)
    zeros = not np.any(got)
    why = ("the output is all zeros, as reported for some runtime versions (#154, #550)" if zeros
           else "the output differs from the emulator: the native layout or the arithmetic differs (a finding)")
    return Probe(mm, "wrong", f"{t.rknn_name}: created and ran, but {why}", out.findings)


def probe_all(runtime: Runtime, platform: Platform, core: int = 0) -> list[Probe]:
    """One :class:`Probe` per matmul type layoutscope models on ``platform``."""
    return [probe_type(runtime, platform, mm, core) for mm in platform.matmul_types]
