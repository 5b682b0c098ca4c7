"""The RKNPU2 matmul path: platform tables, requantization and native layouts.

``platforms`` holds what each Rockchip SoC's matmul API expects (native
tile shapes, alignment, K segmentation, supported matmul types);
``requantize`` turns float weights and activations into NPU codes plus
scales; ``layout`` packs and unpacks the tiled native buffers. Facts come
from ``shared/reference/rknpu2.md``; every undocumented behaviour is marked
UNCERTAIN where it is used.
"""

from __future__ import annotations

import importlib

from .requantize import Requantized, Scheme, parse_scheme, requantize

#: Modules imported on first access, so ``rknpu2.layout.pack_b`` works after ``import layoutscope``.
SUBMODULES = ("emulator", "layout", "plan", "platforms")

__all__ = ["Requantized", "Scheme", "parse_scheme", "requantize", *SUBMODULES]


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
