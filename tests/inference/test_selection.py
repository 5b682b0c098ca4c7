"""``--npu`` selectors: what each form picks from llama.cpp's weights, and the refusals a user sees."""

from __future__ import annotations

import pytest

from layoutscope.errors import UsageError
from layoutscope.inference.selection import first_layers, layer_of, select

ORDER = ("attn_q", "attn_v", "attn_k", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
WEIGHTS = tuple(f"blk.{i}.{w}.weight" for i in range(4) for w in ORDER) + ("output.weight",)


def test_layer_of():
    assert layer_of("blk.3.ffn_up.weight") == 3
    assert layer_of("blk.12.attn_q.weight") == 12
    assert layer_of("output.weight") is None


@pytest.mark.parametrize("selector,expected", [
    ("all", WEIGHTS),
    ("  all ", WEIGHTS),
    ("none", ()),
    ("layers:1", WEIGHTS[7:14]),
    ("layers:0-1", WEIGHTS[:14]),
    ("layers:3-3", WEIGHTS[21:28]),
    ("first:0", ()),
    ("first:2", WEIGHTS[:14]),
    ("first:4", WEIGHTS[:28]),
    ("ffn_down", tuple(w for w in WEIGHTS if "ffn_down" in w)),
    (r"^output\.", ("output.weight",)),
    (r"blk\.[02]\.attn_(q|k)", ("blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                "blk.2.attn_q.weight", "blk.2.attn_k.weight")),
])
def test_selectors_pick_in_llama_cpp_order(selector, expected):
    assert select(selector, WEIGHTS, 4) == expected


@pytest.mark.parametrize("selector,words", [
    ("layers:4", "layers 0-3"),
    ("layers:2-9", "layers 0-3"),
    ("layers:3-1", "A <= B"),
    ("layers:x", "write layers:A-B"),
    ("layers:1-", "write layers:A-B"),
    ("first:5", "K from 0 to 4"),
    ("first:-1", "K from 0 to 4"),
    ("first:", "K from 0 to 4"),
    ("blk.[", "not a valid regex"),
    ("(", "not a valid regex"),
    ("token_embd", "matches none of the 29"),
])
def test_bad_selectors_are_refused_with_a_reason(selector, words):
    with pytest.raises(UsageError) as caught:
        select(selector, WEIGHTS, 4)
    message = str(caught.value)
    assert message.startswith("--npu ") and words in message and "\n" not in message


def test_a_selector_with_control_characters_is_printed_safely():
    with pytest.raises(UsageError) as caught:
        select("nothing\x1b[31m", WEIGHTS, 4)
    assert "\x1b" not in str(caught.value)


def test_first_layers_are_nested_and_never_take_the_output_head():
    previous: tuple = ()
    for k in range(5):
        chosen = first_layers(WEIGHTS, k)
        assert set(previous) < set(chosen) or k == 0
        assert len(chosen) == 7 * k and "output.weight" not in chosen
        previous = chosen


def test_selection_on_the_tiny_model_weights(weights):
    assert select("all", weights, 4) == tuple(weights)
    assert select("layers:0-3", weights, 4) == tuple(weights[:-1])
