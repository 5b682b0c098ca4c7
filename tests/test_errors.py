"""Terminal-safe text (layoutscope.errors) and bounded error lines (errors.one_line)."""

from __future__ import annotations

import pytest

from layoutscope.errors import MAX_LINE, one_line
from layoutscope.errors import clipped, clipped_path, printable, printable_lines, quoted, quoted_path


@pytest.mark.parametrize("raw, shown", [
    ("blk.0.ffn_up.weight", "blk.0.ffn_up.weight"),
    ("x · y × z → ≤", "x · y × z → ≤"),
    ("red\x1b[31m", "red\\e[31m"),
    ("two\nlines\r\t", "two\\nlines\\r\\t"),
    ("bell\x07 del\x7f", "bell\\x07 del\\x7f"),
    ("c1\x9b", "c1\\x9b"),
    ("rtl\u202eevil", "rtl\\u202eevil"),
    ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
])
def test_printable_escapes_controls_and_invisible_formatting(raw, shown):
    assert printable(raw) == shown
    assert printable(printable(raw)) == shown  # escaping twice changes nothing


def test_clipped_cuts_long_text_and_says_how_long_it_was():
    text = clipped("x" * 100_000)
    assert text.startswith("x" * 80) and text.endswith("(100000 characters)") and len(text) < 110
    assert clipped("short") == "short"
    assert quoted("a\nb") == "'a\\nb'"


def test_clipped_path_keeps_the_file_name():
    path = "/" + "d" * 300 + "/model.gguf"
    shown = clipped_path(path)
    assert shown.startswith("…") and shown.endswith("/model.gguf") and len(shown) <= 161
    assert quoted_path(path) == f"'…{path[-80:]}'" and quoted_path("x\ny.npy") == "'x\\ny.npy'"


def test_printable_lines_keeps_one_line_per_item():
    assert printable_lines(["name\nfake row", "next"]) == "name\\nfake row\nnext\n"


def test_one_line_bounds_an_error_and_keeps_its_advice():
    line = one_line("no tensor named " + "x" * 100_000 + " in model.gguf; check the name\n")
    assert "\n" not in line and len(line) <= MAX_LINE + 3
    assert line.startswith("no tensor named x") and line.endswith("check the name\\n")
