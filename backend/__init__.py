"""Compute backends, installed as ``layoutscope.backend``: one matmul, Y = X @ Wᵀ.

``get_backend(name, **options)`` returns a backend; ``available_backends()``
lists ``(name, available, reason)``. Backends:

* ``cpu``: ggml's own CPU ``mul_mat`` through libggml (llama.cpp's result).
* ``cpu-numpy``: a numpy twin of the same semantics.
* ``npu-sim``: the RKNPU2 path, emulated exactly on native buffers.
* ``npu``: the same path on the real NPU through librknnrt (on the board).
"""

from __future__ import annotations

import importlib

from .base import Backend, BackendUnavailable, MatmulResult

_BACKENDS = {
    "cpu": ("ggml_cpu", "GgmlCpuBackend"),
    "cpu-numpy": ("numpy_cpu", "NumpyCpuBackend"),
    "npu-sim": ("npu_sim", "NpuSimBackend"),
    "npu": ("npu", "NpuBackend"),
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


def npu_backend(core: int = 0, **options) -> tuple[Backend, str]:
    """The NPU side to use: ``npu`` when it is available, else ``npu-sim``, with a notice saying which and why.

    ``options`` are the pipeline's (platform, mm, weight_quant, act_quant);
    ``core`` is the NPU core ``npu`` would use.
    """
    try:
        return get_backend("npu", core=core, **options), ""
    except BackendUnavailable as exc:
        return get_backend("npu-sim", **options), f"ran npu-sim, the exact emulator, because the NPU is unavailable: {exc}"


__all__ = ["Backend", "BackendUnavailable", "MatmulResult", "available_backends", "get_backend", "npu_backend"]
