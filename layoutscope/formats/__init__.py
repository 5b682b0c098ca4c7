"""The ggml type registry: sizes, block fields, dequantizers and element anatomy.

``ggml_type("Q8_0")`` or ``ggml_type(8)`` returns a :class:`GGMLType`;
``all_types()`` lists ids 0..42. Dequantizers are vectorised numpy and are
checked bit-for-bit against ggml's own ``to_float``.
"""

from layoutscope.formats.record import BitSource, ElementAnatomy, Field, GGMLType, Term
from layoutscope.formats.registry import TYPE_COUNT, all_types, ggml_type, unknown_type

__all__ = [
    "BitSource",
    "ElementAnatomy",
    "Field",
    "GGMLType",
    "TYPE_COUNT",
    "Term",
    "all_types",
    "ggml_type",
    "unknown_type",
]
