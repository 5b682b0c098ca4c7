"""A scan's shortcut through ``npu-sim``: one weight streamed in row blocks, for INT8×INT8→INT32.

For INT8→INT32 the emulated NPU computes exact integer sums, and the
pipeline applies every scale on the CPU afterwards. The result therefore does
not depend on how the calls tile, pack or split the matmul: Y is
``sa·sb·(X codes @ W codesᵀ)`` whatever the plan. :func:`sweep` computes
exactly that, block of weight rows by block of rows. It never holds the
whole dequantized or requantized weight, so each block's temporaries stay in
cache and a 65-million-element output head costs a few passes over its
bytes instead of a dozen full-size arrays. Several weight schemes share each
dequantized block.

Its Y is bit-identical to ``NpuSimBackend.matmul_prepared`` (tested for
every scheme). Anything else (other matmul types, the real ``npu``, the
bug-injecting backends of ``diagnose``) runs the whole pipeline: there the
plan, packing or hardware are what is being tested.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .base import TensorLike
from .bulk_decode import dequantize_rows
from .npu_sim import NpuSimBackend
from .rknpu2.emulator import exact_int_matmul
from .rknpu2.requantize import CODE_BITS, code_max, encode_rows, integer_scale, range_of, requantize

#: ``on_block(scheme_index, first_row, values, w)``: a block's requantized values beside its dequantized ones.
OnBlock = Callable[[int, int, np.ndarray, np.ndarray], None]


def can_sweep(backend) -> bool:
    """Whether :func:`sweep` gives exactly what ``backend`` computes: plain ``npu-sim`` with INT8→INT32."""
    return type(backend) is NpuSimBackend and backend.mm.name == "int8"


def sweep(weight: TensorLike, x: np.ndarray, backends: Sequence[NpuSimBackend], block_rows: int,
          on_block: Optional[OnBlock] = None, checkpoint: Optional[Callable[[], None]] = None) -> list[np.ndarray]:
    """Each backend's float32 Y = X @ Wᵀ for ``weight``, streaming W once in blocks of ``block_rows`` rows.

    Choose ``block_rows`` so a block of float32 rows stays in cache (a few hundred KB).

    ``on_block`` sees every block's requantized values next to the dequantized
    ones, per backend, in row order: the weight-alone error without a second
    pass. All ``backends`` must pass :func:`can_sweep`. ``checkpoint()`` is
    called before each block; it raises to stop the sweep (a user's cancel).
    """
    if not backends or not all(can_sweep(b) for b in backends):
        raise ValueError("sweep needs npu-sim backends with --mm int8; run the pipeline for the others")
    x = backends[0].check(weight, x)
    n, k = weight.n_rows, weight.ne[0]
    step = max(1, block_rows)
    qmax = code_max(CODE_BITS["int8"])
    acts = [requantize(x, b.act_quant, CODE_BITS["int8"]) for b in backends]
    act_codes = [a.codes.astype(np.float32) for a in acts]
    tensor_scales = _tensor_scales(weight, backends, step, qmax, checkpoint)
    acc = [np.empty((x.shape[0], n), np.float64) for _ in backends]
    weight_scales: list[list[np.ndarray]] = [[] for _ in backends]
    for start in range(0, n, step):  # blocks of rows, not elements
        if checkpoint is not None:
            checkpoint()
        w = dequantize_rows(weight, slice(start, start + step))
        for i, backend in enumerate(backends):
            scheme = backend.weight_quant
            scale = tensor_scales[i]
            if scale is None:
                scale, _ = integer_scale(range_of(w, scheme), scheme, qmax, k)
                weight_scales[i].append(scale)
            codes, values = encode_rows(w, scale, scheme, qmax)
            acc[i][:, start:start + len(w)] = exact_int_matmul(act_codes[i], codes.T)
            if on_block is not None:
                on_block(i, start, values, w)
    ys = []
    for i, backend in enumerate(backends):
        scale = tensor_scales[i] if tensor_scales[i] is not None else np.concatenate(weight_scales[i])
        ys.append(backend.rescale(acc[i], scale, acts[i].scale, {}).astype(np.float32))
    return ys


def _tensor_scales(weight: TensorLike, backends, step: int, qmax: int, checkpoint: Optional[Callable[[], None]] = None) -> list:
    """The single scale of each per-tensor or fixed scheme (None for row-wise ones)."""
    scales: list = [None] * len(backends)
    per_tensor = [i for i, b in enumerate(backends) if b.weight_quant.kind == "per-tensor"]
    if per_tensor:
        # The tensor's range is needed before the first block: one extra pass, for per-tensor only.
        tensor = backends[per_tensor[0]].weight_quant
        amax = np.zeros((1, 1), np.float32)
        for start in range(0, weight.n_rows, step):
            if checkpoint is not None:
                checkpoint()
            amax = np.maximum(amax, range_of(dequantize_rows(weight, slice(start, start + step)), tensor))
        for i in per_tensor:
            scales[i] = integer_scale(amax, tensor, qmax, weight.ne[0])[0]
    for i, b in enumerate(backends):
        if b.weight_quant.kind == "fixed":
            scales[i] = integer_scale(np.zeros((1, 1), np.float32), b.weight_quant, qmax, weight.ne[0])[0]
    return scales
