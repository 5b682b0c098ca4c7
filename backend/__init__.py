"""Compute backends, installed as ``layoutscope.backend``: one matmul, Y = X @ Wᵀ.

``get_backend(name, **options)`` returns a backend; ``available_backends()``
lists ``(name, available, reason)``. Backends:

* ``cpu``: ggml's own CPU ``mul_mat`` through libggml (llama.cpp's result).
* ``cpu-numpy``: a numpy twin of the same semantics.
* ``npu-sim``: the RKNPU2 path, emulated exactly on native buffers.
* ``npu``: the same path on the real NPU through librknnrt (on the board).

A backend takes any weight that is :class:`~.base.TensorLike` (a GGUF
``Tensor`` or an in-memory stand-in). The NPU pipeline's extension points are
documented on :class:`~.npu_pipeline.NpuPipelineBackend`.
"""

from __future__ import annotations

import importlib

from .base import Backend, BackendUnavailable, MatmulResult, TensorLike, TensorTypeLike

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


def npu_backend(requested: "str | None" = None, core: int = 0, **options) -> tuple[Backend, str]:
    """The NPU side and a notice saying which ran and why.

    ``requested`` is "npu-sim", "npu" (unavailable: BackendUnavailable saying
    so) or None/"auto": ``npu`` when it is available, else ``npu-sim``.
    ``options`` are the pipeline's (platform, mm, weight_quant, act_quant);
    ``core`` is the NPU core ``npu`` uses.
    """
    if requested == "npu-sim":
        return get_backend("npu-sim", **options), ""
    if requested == "npu":
        try:
            return get_backend("npu", core=core, **options), ""
        except BackendUnavailable as exc:
            raise BackendUnavailable(f"--backend npu: {exc}; off the board use --backend npu-sim") from None
    try:
        return get_backend("npu", core=core, **options), ""
    except BackendUnavailable as exc:
        return get_backend("npu-sim", **options), f"ran npu-sim, the exact emulator, because the NPU is unavailable: {exc}"


def reference_backend(name: str = "cpu", threads: int = 1) -> tuple[Backend, str]:
    """The CPU reference and a notice: ``cpu`` falls back to ``cpu-numpy`` when libggml cannot load."""
    if name == "cpu-numpy":
        return get_backend("cpu-numpy"), ""
    try:
        return get_backend("cpu", threads=threads), ""
    except BackendUnavailable as exc:
        return get_backend("cpu-numpy"), f"reference is cpu-numpy because ggml's CPU backend is unavailable: {exc}"


#: Subpackages imported on first access (``layoutscope.backend.rknpu2.requantize`` after ``import layoutscope``).
SUBPACKAGES = ("rknpu2",)

__all__ = ["Backend", "BackendUnavailable", "MatmulResult", "TensorLike", "TensorTypeLike", "available_backends",
           "get_backend", "npu_backend", "reference_backend", *SUBPACKAGES]


def __getattr__(name: str):
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
