"""``cpu``: llama.cpp's CPU result, from ggml's own ``ggml_mul_mat`` through libggml."""

from __future__ import annotations

import time

import numpy as np

from .base import Backend, BackendUnavailable, MatmulResult


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

    def _matmul(self, weight, x: np.ndarray) -> MatmulResult:
        t0 = time.perf_counter()
        y = self._ggml.mul_mat(weight.type.id, weight.raw(), weight.ne[0], x, self.threads)
        return MatmulResult(y, {
            "backend": self.name,
            "weight_type": weight.type.name,
            "activation_type": weight.type.vec_dot_type,
            "threads": self.threads,
            "seconds": time.perf_counter() - t0,
        })
