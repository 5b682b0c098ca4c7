"""Compute backends, installed as ``layoutscope.backend``: one matmul, Y = X @ Wᵀ.

``get_backend(name, **options)`` returns a backend; ``available_backends()``
lists ``(name, available, reason)``. Backends:

* ``cpu``: ggml's own CPU ``mul_mat`` through libggml (llama.cpp's result).
* ``cpu-numpy``: a numpy twin of the same semantics.
* ``npu-sim``: the RKNPU2 path, emulated exactly on native buffers.

The real-NPU backend (``npu``, librknnrt) is not written yet.
"""

from __future__ import annotations

import importlib

from .base import Backend, BackendUnavailable, MatmulResult

_BACKENDS = {
    "cpu": ("ggml_cpu", "GgmlCpuBackend"),
    "cpu-numpy": ("numpy_cpu", "NumpyCpuBackend"),
    "npu-sim": ("npu_sim", "NpuSimBackend"),
}


def get_backend(name: str, **options) -> Backend:
    """The backend called ``name``, built with ``options`` (e.g. ``threads=2``, ``platform="rk3588"``)."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(_BACKENDS)}")
    module, cls = _BACKENDS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**options)


def available_backends() -> list[tuple[str, bool, str]]:
    """``(name, available, reason)`` for every backend."""
    out = []
    for name in _BACKENDS:
        try:
            get_backend(name)
            out.append((name, True, "ready"))
        except BackendUnavailable as exc:
            out.append((name, False, str(exc)))
    return out


__all__ = ["Backend", "BackendUnavailable", "MatmulResult", "available_backends", "get_backend"]
