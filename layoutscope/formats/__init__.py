"""The ggml type registry: sizes, block fields, dequantizers and element anatomy.

``ggml_type("Q8_0")`` or ``ggml_type(8)`` returns a :class:`GGMLType`;
``all_types()`` lists ids 0..42. Dequantizers are vectorised numpy and are
checked bit-for-bit against ggml's own ``to_float``. Every type's name and
sizes are one numpy-free table (:mod:`~layoutscope.formats.sizes`:
``sizes_of("Q8_0")`` returns a :class:`TypeSize`), which the records take them
from and which is all the reader needs to open a file. Also here: the one
shortest-float formatter (:mod:`~layoutscope.formats.float_text`) and the
dequantize pool's thread count (:mod:`~layoutscope.formats.threads`).

The names below load on first use (numpy and the registry are not needed to
open a file or read a thread count).
"""

from __future__ import annotations

#: Public name -> the module that defines it.
_WHERE = {
    "BitSource": "record",
    "ElementAnatomy": "record",
    "Field": "record",
    "GGMLType": "record",
    "Term": "record",
    "TYPE_COUNT": "sizes",
    "TypeSize": "sizes",
    "all_sizes": "sizes",
    "all_types": "registry",
    "ggml_type": "registry",
    "sizes_of": "sizes",
    "unknown_type": "registry",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
