"""Where each byte goes: ggml blocks and strides, the annotated hex view, and the NPU's native tiles.

* :mod:`~layoutscope.layout.blocks`: strides with their arithmetic, one element
  worked out from its bytes, the plain-int8 trap (:func:`explain`).
* :mod:`~layoutscope.layout.hexview`: the bytes around an element, each tagged with its field.
* :mod:`~layoutscope.layout.npu_location`: where a weight element lands in the NPU's native B.
* :mod:`~layoutscope.layout.sidebyside`: a weight's dequantized values next to the NPU codes it becomes.

``explain`` and ``Explanation`` are loaded on first use, so importing one of
the small modules stays cheap.
"""

from __future__ import annotations

__all__ = ["Explanation", "explain"]


def __getattr__(name: str):
    if name in __all__:
        from layoutscope.layout import blocks

        return getattr(blocks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
