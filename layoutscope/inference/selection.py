"""Which matmul weights run on the NPU side: ``--npu all | none | layers:A-B | first:K | REGEX``.

The weights to choose from are those llama.cpp actually runs as MUL_MAT, in
the order it first runs them (:func:`~layoutscope.inference.evaluate.matmul_weights`
finds them with a two-token decode), so a tied output head
(``token_embd.weight``) is included and an embedding lookup is not.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from layoutscope.errors import UsageError, printable
from layoutscope.gguf.tensor import parse_layer

#: The selector forms, for help texts and messages.
SELECTOR_FORMS = "all | none | layers:A-B | first:K | a regex on tensor names"
_LAYERS = re.compile(r"layers:(\d+)(?:-(\d+))?$")
_FIRST = re.compile(r"first:(\d+)$")


def layer_of(name: str) -> Optional[int]:
    """The layer number of a weight (``blk.3.ffn_up.weight`` → 3), None outside the layers (the output head)."""
    return parse_layer(name)[1]


def first_layers(weights: Sequence[str], k: int) -> tuple[str, ...]:
    """The weights of layers 0..k-1 (a sweep point of ``--sweep first-k``)."""
    return tuple(w for w in weights if (layer := layer_of(w)) is not None and layer < k)


def select(selector: str, weights: Sequence[str], n_layer: int) -> tuple[str, ...]:
    """The weights ``selector`` picks from ``weights`` (llama.cpp's order); UsageError for a selector that picks badly."""
    text = selector.strip()
    if text == "all":
        return tuple(weights)
    if text == "none":
        return ()
    if text.startswith("layers:"):
        found = _LAYERS.match(text)
        if not found:
            raise UsageError(f"--npu {printable(selector)}: write layers:A-B (or layers:A), e.g. layers:0-9")
        low = int(found.group(1))
        high = int(found.group(2)) if found.group(2) is not None else low
        if low > high or high >= n_layer:
            raise UsageError(f"--npu {printable(selector)}: the model has layers 0-{n_layer - 1}; "
                             f"give A <= B within them")
        return tuple(w for w in weights if (layer := layer_of(w)) is not None and low <= layer <= high)
    if text.startswith("first:"):
        found = _FIRST.match(text)
        if not found or int(found.group(1)) > n_layer:
            raise UsageError(f"--npu {printable(selector)}: write first:K with K from 0 to {n_layer} "
                             "(the number of leading layers)")
        return first_layers(weights, int(found.group(1)))
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise UsageError(f"--npu {printable(selector)}: not a selector ({SELECTOR_FORMS}) and not a valid "
                         f"regex ({exc})") from None
    chosen = tuple(w for w in weights if pattern.search(w))
    if not chosen:
        example = weights[0] if weights else "blk.0.ffn_up.weight"
        raise UsageError(f"--npu {printable(selector)}: matches none of the {len(weights)} matmul weights "
                         f"(e.g. {example}); use {SELECTOR_FORMS}")
    return chosen
