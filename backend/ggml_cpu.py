"""``cpu``: llama.cpp's CPU result, from ggml's own ``ggml_mul_mat`` through libggml."""

from __future__ import annotations

import sys
import time

import numpy as np

from .base import Backend, BackendUnavailable, MatmulResult, TensorLike

#: The byte order ggml reads values in: the host's.
HOST_ORDER = "<" if sys.byteorder == "little" else ">"


def ggml_weight_bytes(weight: TensorLike) -> tuple[np.ndarray, list[str]]:
    """The weight's bytes as ggml must see them to agree with layoutscope's decoding, and notes saying how.

    ggml reads values in the host's byte order. Plain values (F32, F16, BF16)
    in a file of the other order are handed over as a byte-swapped copy.
    Quantized blocks are decoded little-endian by layoutscope (as gguf-py
    writes them) and by ggml on a little-endian host, so they pass as stored;
    on a big-endian host the two would disagree, which is refused.
    """
    raw = weight.raw()
    if weight.byteorder == HOST_ORDER and HOST_ORDER == "<":
        return raw, []
    t = weight.type
    if t.block_size == 1:
        if weight.byteorder == HOST_ORDER:
            return raw, []
        size = t.type_size
        swapped = raw.view(f"{weight.byteorder}u{size}").astype(f"{HOST_ORDER}u{size}").view(np.uint8)
        order = "big" if weight.byteorder == ">" else "little"
        return swapped, [f"{order}-endian file: the {t.name} values were byte-swapped to the host's order for ggml"]
    if HOST_ORDER == "<":
        return raw, [f"big-endian file: {t.name} blocks are read little-endian by ggml and by layoutscope alike "
                     "(as gguf-py writes them; how big-endian files store quantized blocks is not settled upstream)"]
    raise ValueError(f"{weight.name}: ggml on this big-endian host reads {t.name} blocks in big-endian order, "
                     "layoutscope decodes them little-endian; the reference would not match, so use "
                     "--reference cpu-numpy")


class GgmlCpuBackend(Backend):
    """ggml's CPU matmul on the raw weight bytes; ggml converts X to vec_dot_type itself."""

    name = "cpu"

    def __init__(self, threads: int = 1):
        from .libggml import LibggmlUnavailable, load

        try:
            self._ggml = load()
        except (LibggmlUnavailable, OSError) as exc:
            raise BackendUnavailable(str(exc)) from exc
        self.threads = int(threads)

    def _matmul(self, weight: TensorLike, x: np.ndarray) -> MatmulResult:
        t0 = time.perf_counter()
        raw, notes = ggml_weight_bytes(weight)
        y = self._ggml.mul_mat(weight.type.id, raw, weight.ne[0], x, self.threads)
        details = {
            "backend": self.name,
            "weight_type": weight.type.name,
            "activation_type": weight.type.vec_dot_type,
            "threads": self.threads,
            "seconds": time.perf_counter() - t0,
        }
        if notes:
            details["notes"] = notes
        return MatmulResult(y, details)
