"""Compute backends, installed as ``layoutscope.backend``: one matmul, Y = X @ Wᵀ.

``get_backend(name, **options)`` returns a backend; ``available_backends()``
lists ``(name, available, reason)``. Backends:

* ``cpu``: ggml's own CPU ``mul_mat`` through libggml (llama.cpp's result).
* ``cpu-numpy``: a numpy twin of the same semantics.
* ``npu-sim``: the RKNPU2 path, emulated exactly on native buffers.
* ``npu``: the same path on the real NPU through librknnrt (on the board).
* ``rk-community``: the community RKNPU2 ggml backend's pipelines
  (W8A8_HADAMARD, ...), emulated exactly (:mod:`.community`).

A backend takes any weight that is :class:`~.base.TensorLike` (a GGUF
``Tensor`` or an in-memory stand-in). The NPU pipeline's extension points are
documented on :class:`~.npu_pipeline.NpuPipelineBackend`.

Importing the package, its names (:mod:`.sides`) and the platform table
(:mod:`.rknpu2.platforms`) loads no numpy, so the command line's ``--help``
can list the real choices; the names of :mod:`.base` and the :mod:`.rknpu2`
subpackage load on first use.
"""

from __future__ import annotations

import importlib

from .community.names import CLASSIC, COMMUNITY_OPTIONS
from .sides import AUTO, NPU_BACKENDS, NPU_REQUESTS, REFERENCE_BACKENDS, NpuSide, npu_side

_BACKENDS = {
    "cpu": ("ggml_cpu", "GgmlCpuBackend"),
    "cpu-numpy": ("numpy_cpu", "NumpyCpuBackend"),
    "npu-sim": ("npu_sim", "NpuSimBackend"),
    "npu": ("npu", "NpuBackend"),
    "rk-community": ("community.emulator", "CommunityBackend"),
}
#: Names that live in :mod:`.base` (numpy), loaded when first asked for.
_BASE_NAMES = ("Backend", "BackendUnavailable", "MatmulResult", "TensorLike", "TensorTypeLike")
#: Subpackages imported on first access (``layoutscope.backend.rknpu2.requantize`` after ``import layoutscope``).
SUBPACKAGES = ("rknpu2", "community")


def __getattr__(name: str):
    if name in _BASE_NAMES:
        from . import base

        return getattr(base, name)
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_BASE_NAMES) + list(SUBPACKAGES))


def get_backend(name: str, **options) -> Backend:
    """The backend called ``name``, built with ``options`` (e.g. ``threads=2`` for cpu, ``mm="int4"`` for npu-sim).

    For ``npu-sim`` and ``npu``, a ``pipeline`` other than ``classic`` builds
    the community backend's emulator instead (:func:`community_backend`).
    """
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(_BACKENDS)}")
    if name in NPU_BACKENDS:
        # The NPU side's settings may name a community pipeline: then its emulator is the NPU side.
        pipeline, community, options = split_pipeline_options(options)
        if pipeline != CLASSIC:
            return community_backend(name, pipeline, options.get("platform"), community)
    module, cls = _BACKENDS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**options)


def available_backends() -> list[tuple[str, bool, str]]:
    """``(name, available, reason)`` for every backend."""
    from .base import BackendUnavailable

    out = []
    for name in _BACKENDS:
        try:
            get_backend(name)
            out.append((name, True, "ready"))
        except BackendUnavailable as exc:
            out.append((name, False, str(exc)))
    return out


def npu_backend(requested: "str | None" = None, core: int = 0, **options) -> tuple[Backend, str]:
    """The NPU side and a notice saying which ran and why (:func:`.sides.npu_side` decides).

    ``requested`` is "npu-sim", "npu" (unavailable: BackendUnavailable saying
    so) or None/"auto": ``npu`` when it is available, else ``npu-sim``.
    ``options`` are the pipeline's (platform, mm, weight_quant, act_quant);
    ``core`` is the NPU core ``npu`` uses. A ``pipeline`` other than
    ``classic`` (with its fork options, see :func:`split_pipeline_options`)
    runs the community backend's emulator (``rk-community``) instead.
    """
    from .base import BackendUnavailable

    pipeline, community, options = split_pipeline_options(options)
    if pipeline != CLASSIC:
        return community_backend(requested, pipeline, options.get("platform"), community), ""

    built, availability = None, []
    if (requested or AUTO) != "npu-sim":
        try:
            built = get_backend("npu", core=core, **options)
            availability = [("npu", True, "ready")]
        except BackendUnavailable as exc:
            availability = [("npu", False, str(exc))]
    side = npu_side(requested, availability)
    if side.refusal:
        raise BackendUnavailable(side.refusal)
    if side.name == "npu":
        return built, ""
    return get_backend("npu-sim", **options), side.notice


def split_pipeline_options(options: dict) -> tuple[str, dict, dict]:
    """``(pipeline, community options, classic options)`` of the NPU side's plain options.

    ``pipeline`` (default ``classic``) and the community fork options (see
    :class:`.community.options.CommunityOptions`, plus ``cores``) go to the
    community backend; the rest (platform, mm, weight_quant, act_quant) to the
    classic pipeline. Each side ignores the other's.
    """
    options = dict(options)
    pipeline = options.pop("pipeline", None) or CLASSIC
    community = {key: options.pop(key) for key in (*COMMUNITY_OPTIONS, "cores") if key in options}
    return pipeline, community, options


def community_backend(requested: "str | None", pipeline: str, platform: "str | None" = None,
                      community: "dict | None" = None) -> Backend:
    """The community backend's emulator for ``pipeline``; BackendUnavailable when the real NPU was insisted on."""
    from .base import BackendUnavailable

    if requested == "npu":
        raise BackendUnavailable(f"--pipeline {pipeline} is emulated only (rk-community): the real NPU runs the "
                                 "classic pipeline; use --backend npu-sim or auto")
    return get_backend("rk-community", pipeline=pipeline, **({"platform": platform} if platform else {}),
                       **(community or {}))


def reference_backend(name: str = "cpu", threads: int = 1) -> tuple[Backend, str]:
    """The CPU reference and a notice: ``cpu`` falls back to ``cpu-numpy`` when libggml cannot load."""
    from .base import BackendUnavailable

    if name == "cpu-numpy":
        return get_backend("cpu-numpy"), ""
    try:
        return get_backend("cpu", threads=threads), ""
    except BackendUnavailable as exc:
        return get_backend("cpu-numpy"), f"reference is cpu-numpy because ggml's CPU backend is unavailable: {exc}"


__all__ = ["AUTO", "Backend", "BackendUnavailable", "MatmulResult", "NPU_BACKENDS", "NPU_REQUESTS", "NpuSide",
           "REFERENCE_BACKENDS", "TensorLike", "TensorTypeLike", "available_backends", "community_backend", "get_backend",
           "npu_backend", "npu_side", "reference_backend", "split_pipeline_options", *SUBPACKAGES]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
