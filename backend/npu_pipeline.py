"""The NPU path shared by ``npu-sim`` and ``npu``: requantize, plan, pack, execute, rescale.

Dequantize W → requantize W and X with the chosen schemes → cut the matmul
into calls within the platform's limits (``rknpu2.plan``) → pack native A and
B per call → *execute* (the emulator, or librknnrt on the board) → unpack C →
sum K segments and rescale on the CPU. Per-token activation scales and the
weight scales of INT32/INT16 outputs are applied on the CPU, as a real
backend must (A and C accept per-layer parameters only). The two backends
differ only in :meth:`NpuPipelineBackend.session`, so the emulator predicts
exactly what the board computes.

Extension points: a subclass changes one step of the pipeline by overriding
one of three hooks, documented on :class:`NpuPipelineBackend`: ``session``
(where each call executes), ``runtime_scales`` (the quant parameters handed to
the runtime) and ``rescale`` (the scales applied on the CPU afterwards).
``analyses.diagnose`` builds its buggy backends this way.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .base import Backend, MatmulResult, TensorLike
from .bulk_decode import dequantize_rows
from .rknpu2 import layout
from .rknpu2.plan import Call, Plan, plan_matmul
from .rknpu2.platforms import DEFAULT_PLATFORM, get_platform
from .rknpu2.requantize import CODE_BITS, Requantized, parse_scheme, requantize

WEIGHT_SCHEMES = ("per-tensor", "per-channel", "per-group", "fixed")
ACT_SCHEMES = ("per-tensor", "per-token", "fixed")
#: Executes one call: (call, native A, native B, runtime scales) → CallOutput.
Execute = Callable[[Call, np.ndarray, np.ndarray, dict], "object"]
#: Called between blocks of long work (row blocks, NPU calls); it raises to stop it (a user's cancel).
Checkpoint = Callable[[], None]
#: Elements dequantized per block when a checkpoint is polled: 16 MiB of float32, a few ms of work.
CHECKED_BLOCK_ELEMENTS = 1 << 22


def dequantize_checked(weight: TensorLike, checkpoint: "Checkpoint | None" = None) -> np.ndarray:
    """``weight.dequantize()`` (by the faster decoder, :mod:`.bulk_decode`); with a ``checkpoint``, in row blocks.

    The checkpoint runs before each block.
    """
    if checkpoint is None:
        return dequantize_rows(weight)
    n, k = weight.n_rows, weight.ne[0]
    out = np.empty((n, k), dtype=np.float32)
    step = max(1, CHECKED_BLOCK_ELEMENTS // max(1, k))
    for start in range(0, n, step):  # blocks of rows, not elements
        checkpoint()
        out[start:start + step] = dequantize_rows(weight, slice(start, start + step))
    return out


@dataclass
class PreparedWeight:
    """A weight dequantized and requantized once: ``values`` (N, K) float32 (None if not kept) and ``requantized``."""

    weight: TensorLike
    values: np.ndarray
    requantized: Requantized
    seconds: float


class NpuPipelineBackend(Backend):
    """Base of the NPU backends: the pipeline, with three hooks a subclass may override.

    For each matmul (:meth:`matmul_prepared`) the hooks run in this order:

    1. :meth:`session` once, around all calls: it yields the executor of one call.
    2. Per call of the plan, after packing native A and B: :meth:`runtime_scales`,
       then the executor with those scales.
    3. Once, after every call's C is unpacked and summed: :meth:`rescale`.

    Subclasses must provide :meth:`session`; the other two have the real backend's behaviour.
    """

    name = "npu-pipeline"

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

    def session(self) -> "contextlib.AbstractContextManager[Execute]":  # pragma: no cover - abstract
        """Hook: a context manager yielding the executor of one call, for one matmul.

        Entered once per matmul, around all of its calls, so a backend can hold a resource (a
        runtime context) for exactly that long. The executor receives ``(call, a_native,
        b_native, runtime_scales)``: the :class:`~.rknpu2.plan.Call`, the packed native A and B,
        and :meth:`runtime_scales`' dict for the call. It returns an object with ``c_native``
        (the native C) and ``notes`` (a list of str), and optionally ``findings`` and
        ``overflow_count``. Wrapping the base class's executor changes what the runtime sees
        or what is read back.
        """
        raise NotImplementedError

    def plan(self, m: int, k: int, n: int) -> Plan:
        """How a (M, K, N) matmul is cut into calls on this backend's platform."""
        group = self.weight_quant.group if self.weight_quant.kind == "per-group" else None
        return plan_matmul(self.platform, self.mm.name, m, k, n, group)

    def prepare(self, weight: TensorLike, values: "np.ndarray | None" = None,
                checkpoint: "Checkpoint | None" = None, keep_values: bool = True) -> PreparedWeight:
        """Dequantize (unless ``values`` are given) and requantize ``weight`` once for many inputs.

        ``checkpoint()`` is called between row blocks; it raises to stop.
        ``keep_values=False`` keeps the codes and scales only (``values`` and
        ``requantized.values`` are None): what a run that only multiplies
        needs, without two float32 copies of every weight.
        """
        weight.require_data("requantize")
        t0 = time.perf_counter()
        w = dequantize_checked(weight, checkpoint) if values is None else values
        rw = requantize(w, self.weight_quant, CODE_BITS[self.mm.b_dtype], checkpoint=checkpoint,
                        keep_values=keep_values)
        return PreparedWeight(weight, w if keep_values else None, rw, time.perf_counter() - t0)

    def _matmul(self, weight: TensorLike, x: np.ndarray) -> MatmulResult:
        return self.matmul_prepared(self.prepare(weight), x)

    def matmul_prepared(self, prepared: PreparedWeight, x: np.ndarray,
                        checkpoint: "Checkpoint | None" = None) -> MatmulResult:
        """Y = X @ Wᵀ for a weight already through :meth:`prepare`; ``checkpoint()`` runs before each call."""
        x = self.check(prepared.weight, x)
        t0 = time.perf_counter()
        p, t = self.platform, self.mm
        m, k = x.shape
        n = prepared.weight.n_rows
        rw = prepared.requantized
        rx = requantize(x, self.act_quant, CODE_BITS[t.a_dtype])
        t_quant = time.perf_counter()
        plan = self.plan(m, k, n)
        acc = np.zeros((m, n), dtype=np.float64)
        seconds = {"requantize": prepared.seconds + t_quant - t0, "pack": 0.0, "execute": 0.0}
        notes, findings, overflows = [], [], 0
        runtime_scales: dict = {}
        # fp16 codes carry NaN and ±inf through the matmul as the NPU would; they are findings, not warnings.
        with self.session() as execute, np.errstate(over="ignore", invalid="ignore"):
            for call in plan.calls:  # a handful of calls (N/4096 × K/8192), not tiles
                if checkpoint is not None:
                    checkpoint()
                t_call = time.perf_counter()
                a_native = layout.pack_a(np.ascontiguousarray(rx.codes[:, call.k0:call.k1]), p, t.a_dtype)
                # A transposed view: the packer tiles Bᵀ = W rows directly, without a copy.
                b_native = layout.pack_b(rw.codes[call.n0:call.n1, call.k0:call.k1].T, p, t.b_dtype)
                runtime_scales = self.runtime_scales(rw, rx, call)
                t_packed = time.perf_counter()
                out = execute(call, a_native, b_native, runtime_scales)
                seconds["pack"] += t_packed - t_call
                seconds["execute"] += time.perf_counter() - t_packed
                c = layout.unpack_c(out.c_native, p, t.c_dtype, m, call.n)
                if t.c_dtype == "int8":
                    c = c.astype(np.float64)
                    c *= runtime_scales["c_scale"]
                block = acc[:, call.n0:call.n1]
                np.add(block, c, out=block)  # integer C widens to float64 exactly, without a copy of its own
                notes += out.notes
                findings += getattr(out, "findings", [])
                overflows += getattr(out, "overflow_count", 0)
            raw = acc.astype(np.int64) if t.c_dtype in ("int32", "int16") else None  # before rescale overwrites acc
            y = self.rescale(acc, rw.scale, rx.scale, runtime_scales).astype(np.float32)
        seconds["total"] = prepared.seconds + time.perf_counter() - t0
        first = plan.calls[0]
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
            "K_padded": sum(p.padded_k(c.k, t.b_dtype) for c in plan.calls if c.n0 == 0),
            "N_padded": sum(p.padded_n(c.n, t.b_dtype) for c in plan.calls if c.k0 == 0),
            "calls": len(plan.calls),
            "k_segments": sorted({(c.k0, c.k1) for c in plan.calls}),
            "n_blocks": sorted({(c.n0, c.n1) for c in plan.calls}),
            "native_shapes": {
                "A": layout.native_shape("A", p, t.a_dtype, m, first.k, first.n),
                "B": layout.native_shape("B", p, t.b_dtype, m, first.k, first.n),
                "C": layout.native_shape("C", p, t.name, m, first.k, first.n),
            },
            "weight_scale": _summary(rw.scale),
            "act_scale": _summary(rx.scale),
            "runtime_scales": {key: _summary(np.asarray(v)) for key, v in runtime_scales.items()},
            "int16_overflows": overflows,
            "exact": t.exact,
            "findings": list(dict.fromkeys(findings)),
            "requantization_findings": [f"W {f}" for f in rw.findings] + [f"X {f}" for f in rx.findings],
            "notes": list(dict.fromkeys([*plan.notes, *notes, *rw.notes, *rx.notes, t.note,
                                         f"weights {self.weight_quant}: {self.weight_quant.hardware_limit}",
                                         f"activations {self.act_quant}: {self.act_quant.hardware_limit}"])),
            "seconds": seconds,
        }
        return MatmulResult(y, details, raw=raw)

    def runtime_scales(self, rw: Requantized, rx: Requantized, call: Call) -> dict:
        """Hook: the quant parameters the runtime gets for ``call``; every other scale is applied on the CPU.

        Runs once per call, before it executes. ``rw`` and ``rx`` are the requantized W (N, K)
        and X (M, K): codes and scales. Returns a dict with any of ``a_scale`` (float),
        ``b_scale`` (float, or per-channel (n,) or per-group (K/G, n) array), ``b_group`` (G)
        and ``c_scale`` (float, for int8 C: the pipeline multiplies C by it after unpacking);
        an empty dict hands the runtime codes only. The same dict reaches :meth:`rescale`, which
        applies on the CPU what the runtime did not.
        """
        t = self.mm
        if t.a_dtype == "fp16" or t.c_dtype in ("int32", "int16"):
            return {}  # codes only
        per_layer_a = self.act_quant.kind != "per-token"
        a_scale = float(rx.scale.reshape(-1)[0]) if per_layer_a else 1.0
        if self.weight_quant.kind == "per-group":
            g = self.weight_quant.group
            # rw.scale is (N, K/G); the runtime's per-group order is row-major [K/G, N].
            block = rw.scale[call.n0:call.n1, call.k0 // g: -(-call.k1 // g)]
            return {"a_scale": a_scale, "b_scale": np.ascontiguousarray(block.T), "b_group": g}
        b_scale = rw.scale.reshape(-1)[call.n0:call.n1] if rw.scale.size > 1 else float(rw.scale.reshape(-1)[0])
        scales = {"a_scale": a_scale, "b_scale": b_scale}
        if t.c_dtype == "int8":
            # A calibrated output scale per call: the largest |C| maps to 127.
            codes_a = rx.codes[:, call.k0:call.k1].astype(np.float32)
            codes_b = rw.codes[call.n0:call.n1, call.k0:call.k1].T.astype(np.float32)
            peak = np.abs(codes_a @ codes_b).max() * a_scale * float(np.max(np.abs(b_scale)))
            scales["c_scale"] = float(peak / 127) if peak > 0 else 1.0
        return scales

    def rescale(self, acc: np.ndarray, weight_scale: np.ndarray, act_scale: np.ndarray,
                runtime_scales: dict) -> np.ndarray:
        """Hook: the float64 Y of the summed C ``acc``: the scales the runtime did not apply, applied on the CPU.

        Runs once per matmul, after every call. ``acc`` is C (M, N) float64 summed over K
        segments (int8 C already multiplied by its ``c_scale``); ``weight_scale`` and
        ``act_scale`` are W's and X's requantization scales; ``runtime_scales`` is the last
        call's :meth:`runtime_scales` dict. Returns Y (M, N), cast to float32 by the caller.
        ``acc`` is the caller's to give away: it may be scaled in place and returned.
        """
        if self.mm.a_dtype == "fp16":
            return acc
        y = acc
        # In place: a Gemma-sized output head is 256 MiB of float64, and a fresh array costs its page faults.
        if "a_scale" not in runtime_scales or self.act_quant.kind == "per-token":
            np.multiply(y, act_scale.astype(np.float64).reshape(-1, 1), out=y)  # per-row (or single) A scale
        if "b_scale" not in runtime_scales:
            np.multiply(y, weight_scale.astype(np.float64).reshape(1, -1), out=y)  # per-channel (or single) B scale
        return y


@contextlib.contextmanager
def stateless(execute: Execute) -> Iterator[Execute]:
    """A session for executors that hold no resources."""
    yield execute


def _summary(scale: np.ndarray) -> dict:
    scale = np.asarray(scale, dtype=np.float64)
    return {"shape": list(scale.shape), "min": float(scale.min()), "max": float(scale.max())}
