"""layoutscope: explain every byte of a GGUF tensor, and where it lands on the RKNPU2.

``layoutscope.open(path)`` returns a :class:`~layoutscope.gguf.Model`. The public
subpackages of DESIGN.md's API contract are attributes of this package, each
imported on first access, so after a bare ``import layoutscope``::

    layoutscope.formats.ggml_type("Q8_0")
    layoutscope.layout.explain(tensor, row=0, col=0)
    layoutscope.backend.get_backend("npu-sim")
    layoutscope.compare.compare(y, reference)

Nothing heavy loads before it is used: ``import layoutscope`` imports neither
numpy nor textual, and ``layoutscope --help`` stays fast.
"""

from layoutscope._version import __version__

#: DESIGN.md's public subpackages, imported on first access. ``compare`` is the contract's
#: name for :mod:`layoutscope.measure.metrics` (see :mod:`layoutscope.compare`).
SUBPACKAGES = ("analyses", "backend", "compare", "formats", "gguf", "inference", "layout", "measure", "report")
#: The reader's names, also at the top.
_FROM_GGUF = ("GGUFError", "Model", "Tensor")

__all__ = sorted([*_FROM_GGUF, *SUBPACKAGES, "__version__", "open"])


def open(path):  # noqa: A001 - the public name in DESIGN.md
    """Open a GGUF model read-only (all shards of a split model together)."""
    from layoutscope.gguf import Model

    return Model(path)


def __getattr__(name: str):
    if name in SUBPACKAGES:
        import importlib

        # import_module also binds the package attribute, so this runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_GGUF:
        from layoutscope import gguf

        return getattr(gguf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
