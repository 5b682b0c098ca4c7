"""The GGUF container: a lazy, read-only, memory-mapped reader.

``Model(path)`` (or ``layoutscope.open``) parses the header, metadata and
tensor infos, validates where every tensor's data lies and exposes tensors
whose bytes are views of the memory map. Also here: what a file's tensor
names say (:mod:`~layoutscope.gguf.naming`, bounded name filters in
:mod:`~layoutscope.gguf.name_filter`) and which paths are regular files
(:mod:`~layoutscope.gguf.filekind`).

The names below load on first use, so the small modules (``filekind``,
``name_filter``) can be imported without numpy.
"""

from __future__ import annotations

#: Public name -> the module that defines it.
_WHERE = {
    "EmptyTensorError": "tensor",
    "GGUFError": "errors",
    "MetadataArray": "values",
    "MetadataEntry": "header",
    "Model": "model",
    "Tensor": "tensor",
    "ValueType": "values",
    "parse_layer": "tensor",
}

__all__ = sorted([*_WHERE, "open_model"])


def open_model(path):
    """Open a GGUF file (all shards of a split model) read-only."""
    from layoutscope.gguf.model import Model

    return Model(path)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
