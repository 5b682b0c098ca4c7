"""Whole models run by llama.cpp, with part of them on the NPU side: the measures a user finally cares about.

* :mod:`~layoutscope.inference.library`: llama-cpp-python imported on first use, llama.cpp's log captured.
* :mod:`~layoutscope.inference.graph`: ggml's tensor struct, checked against the loaded library.
* :mod:`~layoutscope.inference.engine`: :class:`Engine` decodes chunks with an observer inside the graph
  (the real X and Y of every weight's MUL_MAT, writable; the layer outputs).
* :mod:`~layoutscope.inference.text`: the text a run reads and its chunks.
* :mod:`~layoutscope.inference.selection`: ``--npu`` selectors.
* :mod:`~layoutscope.inference.quality`: KL divergence, top-1 agreement, perplexity.
* :mod:`~layoutscope.inference.evaluate`: reference against candidate runs (:func:`eval_model`), drift
  per layer, each weight's own error, the first-k sweep.

It sits beside :mod:`layoutscope.analyses`, above :mod:`layoutscope.measure`,
and it is the only place besides the ggml binding that imports ``llama_cpp``
(lazily: importing this package loads neither numpy nor llama.cpp).
"""

from __future__ import annotations

import importlib

#: Public names and the module each lives in, loaded on first use.
_WHERE = {
    "Engine": "engine",
    "EvalRequest": "evaluate",
    "eval_model": "evaluate",
    "Quality": "quality",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
