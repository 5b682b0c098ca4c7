"""The RKNPU2 matmul path: platform tables, requantization and native layouts.

``platforms`` holds what each Rockchip SoC's matmul API expects (native
tile shapes, alignment, K segmentation, supported matmul types);
``requantize`` turns float weights and activations into NPU codes plus
scales; ``layout`` packs and unpacks the tiled native buffers. Facts come
from ``shared/reference/rknpu2.md``; every undocumented behaviour is marked
UNCERTAIN where it is used.

The requantization names load (with numpy) on first use, so the platform
table can be read without numpy (the command line's ``--help`` lists it).
"""

from __future__ import annotations

import importlib
import sys
import types

#: Names of :mod:`.requantize`, loaded (with numpy) on first use.
_REQUANTIZE_NAMES = ("Requantized", "Scheme", "parse_scheme", "requantize")
#: Modules imported on first access, so ``rknpu2.layout.pack_b`` works after ``import layoutscope``.
SUBMODULES = ("emulator", "layout", "plan", "platforms")

__all__ = [*_REQUANTIZE_NAMES, *SUBMODULES]


class _Package(types.ModuleType):
    """This package: ``requantize`` names the function, loaded on first use.

    The function shares its name with its submodule. Importing the submodule
    makes the import system set the package's attribute to the module; a
    property outranks that attribute, so the package's ``requantize`` stays
    the function (DESIGN.md's ``layoutscope.backend.rknpu2.requantize(w, ...)``).
    """

    @property
    def requantize(self):
        """:func:`.requantize.requantize`."""
        return _submodule().requantize

    @requantize.setter
    def requantize(self, module) -> None:
        pass  # the import system recording the submodule; the name keeps the function

    def __getattr__(self, name: str):
        if name in _REQUANTIZE_NAMES:
            return getattr(_submodule(), name)
        if name in SUBMODULES:
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(__all__))


def _submodule():
    return importlib.import_module(f"{__name__}.requantize")


sys.modules[__name__].__class__ = _Package
