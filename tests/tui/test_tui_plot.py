"""The Offload screen's text plots: log bars, the budget mark, charts side by side, NO_COLOR-safe characters."""

from __future__ import annotations

import math

from layoutscope.tui.widgets.plot import bar, bar_chart, kld_text, log_range, side_by_side


def test_bars_grow_with_the_log_of_the_value_and_zero_has_none():
    low, high = 1e-6, 1e-1
    widths = [len(bar(v, low, high, 20).rstrip()) for v in (1e-5, 1e-3, 1e-1)]
    assert widths == sorted(widths) and widths[-1] == 20 and widths[0] >= 1
    assert bar(0.0, low, high, 20) == bar(math.nan, low, high, 20) == " " * 20
    assert len(bar(5.0, low, high, 20)) == 20  # past the axis: clipped to it


def test_log_range_is_whole_decades():
    assert log_range([3e-5, 0.052]) == (1e-6, 0.1)
    assert log_range([0.0]) == (1e-6, 1e-5)


def test_a_bar_chart_prints_each_value_and_marks_the_budget():
    lines = bar_chart(["blk.0", "output"], [0.052, 0.0], "W4A4_STANDARD", width=10, budget=0.01)
    assert lines[0] == "W4A4_STANDARD (┴ 0.01)"
    assert lines[1].startswith("blk.0  │█") and lines[1].endswith(" 5.2e-02")
    assert lines[2].startswith("output │ ") and lines[2].endswith(" 0")
    assert lines[3].strip().startswith("└") and "┴" in lines[3]
    assert lines[4].split() == ["1e-6", "1e-1", "log"]


def test_side_by_side_wraps_blocks_that_do_not_fit():
    a, b = ["a" * 30, "a"], ["b" * 30]
    assert side_by_side([a, b], 80) == ["a" * 30 + "   " + "b" * 30, "a"]
    assert side_by_side([a, b], 50) == ["a" * 30, "a", "", "b" * 30]


def test_kld_text_fits_a_cell():
    assert [kld_text(v) for v in (0.0, 0.0523, math.nan, math.inf)] == ["0", "5.2e-02", "n/a", "n/a"]
