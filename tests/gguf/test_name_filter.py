"""Bounded name filters (layoutscope.gguf.name_filter): normal patterns work, hostile ones are refused in one line."""

from __future__ import annotations

import pytest

from layoutscope.errors import UsageError
from layoutscope.gguf.name_filter import MAX_NESTING, compile_filter

NAMES = ["token_embd.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "blk.0.attn_q.weight", "output.weight"]


def test_a_normal_pattern_selects_by_search():
    assert compile_filter(r"ffn_(up|down)").select(NAMES) == ["blk.0.ffn_up.weight", "blk.0.ffn_down.weight"]
    assert compile_filter(r"^output").select(NAMES) == ["output.weight"]
    assert compile_filter(r"[(]").select(["a(b", "ab"]) == ["a(b"]


def test_no_pattern_is_no_filter():
    assert compile_filter(None) is None and compile_filter("") is None


def test_an_invalid_pattern_is_one_line_naming_the_option():
    with pytest.raises(UsageError) as caught:
        compile_filter("(a", "--filter")
    assert str(caught.value).startswith("--filter '(a': not a valid regular expression")


def test_five_thousand_levels_of_nesting_are_refused_without_recursion():
    pattern = "(" * 5000 + "a" + ")" * 5000
    with pytest.raises(UsageError) as caught:
        compile_filter(pattern, "--filter")
    message = str(caught.value)
    assert message.startswith("--filter '((((") and "(10001 characters)" in message and len(message) < 300


def test_nesting_under_the_length_limit_is_refused_by_depth():
    deep = "(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1)
    with pytest.raises(UsageError, match=f"nested deeper than {MAX_NESTING} levels"):
        compile_filter(deep, "filter")
    escaped = r"\(" * (MAX_NESTING + 5) + "a"  # escaped parentheses are no groups
    assert compile_filter(escaped).matches("(" * (MAX_NESTING + 5) + "a")


def test_a_catastrophic_pattern_is_stopped_by_the_match_time_limit():
    name_filter = compile_filter(r"(a|aa)+$", "filter")
    with pytest.raises(UsageError) as caught:
        name_filter.matches("a" * 60 + "!")
    message = str(caught.value)
    assert message.startswith("filter '(a|aa)+$': matching took over") and "catastrophic backtracking" in message
