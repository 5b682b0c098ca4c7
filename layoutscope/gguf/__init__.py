"""The GGUF container: a lazy, read-only, memory-mapped reader.

``Model(path)`` (or ``layoutscope.open``) parses the header, metadata and
tensor infos, validates where every tensor's data lies and exposes tensors
whose bytes are views of the memory map.
"""

from layoutscope.gguf.errors import GGUFError
from layoutscope.gguf.header import MetadataEntry
from layoutscope.gguf.model import Model
from layoutscope.gguf.tensor import EmptyTensorError, Tensor, parse_layer
from layoutscope.gguf.values import MetadataArray, ValueType

__all__ = [
    "EmptyTensorError",
    "GGUFError",
    "MetadataArray",
    "MetadataEntry",
    "Model",
    "Tensor",
    "ValueType",
    "open_model",
    "parse_layer",
]


def open_model(path) -> Model:
    """Open a GGUF file (all shards of a split model) read-only."""
    return Model(path)
