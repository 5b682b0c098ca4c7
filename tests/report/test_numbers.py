"""The one number formatter of the CLI and the TUI: what each spelling promises."""

from __future__ import annotations

import numpy as np
import pytest
from float_cases import SPECIAL

from layoutscope.formats import float_text as formats_text
from layoutscope.report import numbers


def test_shortest_text_is_the_formats_own():
    """A value reads alike in a format's worked example, dump, and the TUI's layout view."""
    assert numbers.shortest_text is formats_text.shortest_text
    assert numbers.shortest_texts is formats_text.shortest_texts
    assert [numbers.shortest_text(v) for v in (0.1, -0.0, 3e-7, np.float32(1.5))] == ["0.1", "-0", "3e-07", "1.5"]


@pytest.mark.parametrize("value, text", [
    (float(np.float32(0.1)), "0.1"),  # a float32 value, not its 0.10000000149011612 float64 digits
    (0.1, "0.1"),  # a float64 that is no float32 keeps its own repr
    (1 / 3, repr(1 / 3)),
    (3.0, "3.0"),
    (-0.0, "-0.0"),
    (1e300, "1e+300"),  # beyond float32's range
    (float(np.float32(3.4028235e38)), "3.4028235e+38"),
    (float("nan"), "nan"),
    (float("-inf"), "-inf"),
])
def test_float_text(value, text):
    assert numbers.float_text(value) == text


def test_float_text_of_a_float32_reads_back_as_it():
    for v in SPECIAL[np.isfinite(SPECIAL)].tolist():
        assert np.float32(float(numbers.float_text(v))) == np.float32(v)


@pytest.mark.parametrize("value, spec, text", [
    (1.2345e-3, ".2e", "1.23e-03"),
    (24.56, ".1f", "24.6"),
    (float("nan"), ".2e", "nan"),
    (float("inf"), ".1f", "inf"),
    (float("-inf"), ".3g", "-inf"),
    (None, ".2e", ""),  # not measured
])
def test_fixed_text(value, spec, text):
    assert numbers.fixed_text(value, spec) == text


def test_nmse_text():
    assert [numbers.nmse_text(x) for x in (1.2345e-3, float("nan"), float("inf"))] == ["1.23e-03", "nan", "inf"]


@pytest.mark.parametrize("value", [0.0, 0.12345678, -1234.5678, 99999999.0, 1.5e9, -3.25e20, float("nan"),
                                   float("inf"), float("-inf"), 1e-30])
def test_cell_text_fits_nine_characters(value):
    text = numbers.cell_text(value)
    assert len(text) == 9
    if np.isfinite(value):
        assert float(text) == pytest.approx(value, rel=1e-2, abs=1e-4)


def test_cell_text_fits_nine_characters_and_keeps_the_sign():
    # A grid cell is nine characters wide; a value must never lose its sign or its exponent to fit.
    values = np.concatenate([
        np.array([-1.234e-05, 1.234e-05, -0.0001234, -123456.7, -3.4028235e38, -1e-45, 0.0, -0.0], np.float32),
        np.random.default_rng(7).standard_normal(2000).astype(np.float32)
        * np.float32(10.0) ** np.random.default_rng(8).integers(-12, 12, 2000).astype(np.float32),
    ])
    for v in values.tolist():
        text = numbers.cell_text(v)
        assert len(text) == 9, (v, text)
        shown = float(text)
        assert (shown < 0) == (v < 0) or shown == 0.0, (v, text)
        assert abs(shown - v) <= 0.01 * abs(v) + 1e-300, (v, text)
