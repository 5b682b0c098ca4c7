"""Bulk decoding of weight rows: ggml's own ``to_float`` where it is faster, layoutscope's numpy decoders otherwise.

A scan or a prepared weight decodes whole tensors, where speed matters; a
window, a dump or an explanation decodes a few rows through
``TensorLike.dequantize``, the numpy decoders that explain the format. The two
agree bit for bit (tests/backend/test_bulk_decode.py checks every type both
have), so the choice changes only the time. ggml is used when its library
loads, it has a ``to_float`` for the type, the type is not one of
:data:`NUMPY_FASTER`, and the file's bytes are in the host's order
(little-endian); anything else goes to the numpy decoders.
"""

from __future__ import annotations

import sys

import numpy as np

from .base import Rows, TensorLike

#: Types whose numpy decoder ran faster than ggml's single-threaded ``to_float``
#: (benchmarks/dequantize.py, x86-64, ggml 0.25.3): the i-quant grids and Q1_0.
NUMPY_FASTER = frozenset({"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "Q1_0"})
#: The decoders :func:`dequantize_rows` can be told to use.
DECODERS = ("auto", "ggml", "numpy")
#: The decoder used when none is named: every bulk decode of a scan or a prepared weight follows it.
DECODER = "auto"


def _ggml():
    """The loaded libggml, or None where it cannot load (then numpy decodes everything)."""
    from .libggml import LibggmlUnavailable, load

    try:
        return load()
    except (LibggmlUnavailable, OSError):
        return None


def ggml_decodes(weight: TensorLike) -> bool:
    """Whether :func:`dequantize_rows` hands ``weight`` to ggml's ``to_float`` (with ``decoder="auto"``)."""
    return weight.type.name not in NUMPY_FASTER and _ggml_can(weight)


def _ggml_can(weight: TensorLike) -> bool:
    if sys.byteorder != "little" or weight.byteorder != "<" or weight.type.block_size < 1:
        return False
    ggml = _ggml()
    return ggml is not None and ggml.has_to_float(weight.type.id)


def dequantize_rows(weight: TensorLike, rows: Rows = None, decoder: "str | None" = None) -> np.ndarray:
    """``weight.dequantize(rows)``, float32 (rows, ne0), decoded by ggml or numpy as ``decoder`` says.

    ``"auto"`` picks the faster one (see the module); ``"ggml"`` falls back to
    numpy where ggml cannot decode the weight; ``"numpy"`` is the explained
    twin. None means :data:`DECODER`.
    """
    decoder = DECODER if decoder is None else decoder
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    use_ggml = ggml_decodes(weight) if decoder == "auto" else decoder == "ggml" and _ggml_can(weight)
    if not use_ggml:
        return weight.dequantize(rows)
    raw = weight.raw(rows)
    count = raw.shape[0] * weight.ne[0]
    return _ggml().to_float(weight.type.id, raw, count).reshape(raw.shape[0], weight.ne[0])
