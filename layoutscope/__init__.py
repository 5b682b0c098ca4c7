"""layoutscope: explain every byte of a GGUF tensor, and where it lands on the RKNPU2.

``layoutscope.open(path)`` returns a :class:`~layoutscope.gguf.Model`. Heavy
modules (numpy, the format registry, the TUI) load only when used, so
``import layoutscope`` and ``layoutscope --help`` stay fast.
"""

from layoutscope._version import __version__

__all__ = ["GGUFError", "Model", "Tensor", "__version__", "open"]


def open(path):  # noqa: A001 - the public name in DESIGN.md
    """Open a GGUF model read-only (all shards of a split model together)."""
    from layoutscope.gguf import Model

    return Model(path)


def __getattr__(name: str):
    if name in ("GGUFError", "Model", "Tensor"):
        from layoutscope import gguf

        return getattr(gguf, name)
    raise AttributeError(f"module 'layoutscope' has no attribute {name!r}")
