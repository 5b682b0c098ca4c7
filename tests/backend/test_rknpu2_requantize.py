"""Requantization invariants: codes in range, amax reaches the top code, error ≤ scale/2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from layoutscope.backend.rknpu2 import parse_scheme, requantize

SCHEMES = ["per-tensor", "per-channel", "per-token", "per-group:32", "per-group:7"]
# Magnitudes whose amax/127 is a normal float32: below that a scale cannot mean anything
# (requantize notes the underflow; see test_underflowing_scale_is_noted).
finite = st.floats(-1e4, 1e4, allow_nan=False, width=32).filter(lambda v: v == 0 or abs(v) >= 1e-30)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [8, 4])
@settings(max_examples=40, deadline=None)
@given(w=arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 70)), elements=finite))
def test_invariants(scheme, bits, w):
    r = requantize(w, scheme, bits)
    qmax = 127 if bits == 8 else 7
    assert r.codes.dtype == np.int8 and r.codes.shape == w.shape
    assert np.abs(r.codes.astype(int)).max() <= qmax
    per = r.scale_per_element()
    assert np.all(np.abs(w.astype(np.float64) - r.codes * per.astype(np.float64)) <= per / 2 * (1 + 1e-6))
    # The element that sets a scale lands on the top code.
    nonzero = np.abs(w) == np.abs(w).max() if scheme == "per-tensor" else None
    if nonzero is not None and np.abs(w).max() > 0:
        assert np.all(np.abs(r.codes[nonzero]) == qmax)
    assert np.array_equal(r.values, (r.codes * per).astype(np.float32))


def test_per_channel_rows_each_reach_127():
    w = np.random.default_rng(0).standard_normal((16, 64)).astype(np.float32) * np.arange(1, 17)[:, None]
    r = requantize(w, "per-channel")
    assert r.scale.shape == (16, 1)
    assert np.all(np.abs(r.codes).max(axis=1) == 127)


def test_half_away_from_zero():
    # scale = 127/127 = 1: 0.5 → 1, -0.5 → -1, 2.5 → 3.
    w = np.array([[127.0, 0.5, -0.5, 2.5, -2.5]], np.float32)
    assert requantize(w, "per-tensor").codes.tolist() == [[127, 1, -1, 3, -3]]


def test_fixed_scheme_clamps_and_says_so():
    w = np.array([[0.5, 2.0, -3.0]], np.float32)
    r = requantize(w, "fixed")
    assert r.codes.tolist() == [[64, 127, -127]]
    assert any("clamped" in n for n in r.notes)
    a = requantize(np.array([[1.7, 0.85]], np.float32), "fixed:1.7")
    assert a.codes.tolist() == [[127, 64]]


def test_per_group_32_lines_up_with_q8_0_blocks():
    w = np.random.default_rng(3).standard_normal((4, 128)).astype(np.float32)
    r = requantize(w, "per-group:32")
    assert r.scale.shape == (4, 4)
    assert np.allclose(r.scale, np.abs(w).reshape(4, 4, 32).max(axis=2) / 127)


def test_fp16_rounds_to_nearest_even():
    w = np.array([[1 + 2**-11, 1 + 3 * 2**-11]], np.float32)
    r = requantize(w, "per-tensor", bits=16)
    assert r.codes.dtype == np.float16 and r.values.tolist() == [[1.0, 1 + 2**-9]]


def test_underflowing_scale_is_noted():
    r = requantize(np.array([[1e-45, 0.0]], np.float32), "per-tensor", bits=4)
    assert not r.codes.any() and any("underflowed" in n for n in r.notes)


def test_round_half_away_edges():
    from layoutscope.backend.rknpu2.requantize import round_half_away

    v = np.array([0.5, -0.5, 1.5, -2.5, 0.49999999999999994, -0.49999999999999994, 2.4999999999999996, 3.0])
    assert round_half_away(v.copy()).tolist() == [1.0, -1.0, 2.0, -3.0, 0.0, -0.0, 2.0, 3.0]


def test_zero_rows_get_zero_codes():
    r = requantize(np.zeros((2, 8), np.float32), "per-channel")
    assert not r.codes.any() and not r.values.any()


@pytest.mark.parametrize("bad", ["per-group", "per-group:0", "fixed:-1", "fixed:x", "per-row", "per-tensor:3"])
def test_bad_schemes_explain_themselves(bad):
    with pytest.raises(ValueError, match="scheme|per-group|fixed"):
        parse_scheme(bad)


def test_schemes_state_their_hardware_limits():
    assert "zeros" in parse_scheme("per-channel").hardware_limit
    assert "CPU" in parse_scheme("per-token").hardware_limit


def _float64_codes(w, scale):
    """The definition: round half away from zero of the float64 quotient."""
    from layoutscope.backend.rknpu2.requantize import round_half_away

    return round_half_away(np.divide(w, scale, dtype=np.float64))


def test_float32_quotient_codes_equal_the_float64_definition_at_and_around_every_tie():
    from layoutscope.backend.rknpu2.requantize import quotient_codes

    rng = np.random.default_rng(7)
    scale = rng.uniform(1e-4, 1e-1, (64, 1)).astype(np.float32)
    halves = (rng.integers(-127, 127, (64, 96)) + 0.5).astype(np.float64)
    exact_ties = (halves * scale).astype(np.float32)  # float32 rounding moves most off the tie
    w = np.concatenate([
        exact_ties,
        np.nextafter(exact_ties, np.float32(np.inf)),
        np.nextafter(exact_ties, np.float32(-np.inf)),
        rng.standard_normal((64, 96)).astype(np.float32) * scale * 60,
    ], axis=1)
    true_ties = np.count_nonzero((w.astype(np.float64) / scale) % 1 == 0.5)
    assert true_ties > 100  # the test meets real ties, not only near ones
    np.testing.assert_array_equal(quotient_codes(w, scale), _float64_codes(w, scale))


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, (4, 8), elements=st.floats(-1e3, 1e3, width=32)),
       st.floats(np.float32(1e-6), 10, width=32))
def test_float32_quotient_codes_equal_the_float64_definition(w, scale):
    from layoutscope.backend.rknpu2.requantize import quotient_codes

    s = np.full((4, 1), scale, np.float32)
    w = np.clip(w, -127 * s, 127 * s).astype(np.float32)
    np.testing.assert_array_equal(quotient_codes(w, s), _float64_codes(w, s))


# -- non-finite inputs: findings, never warnings ----------------------------------------------------
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scheme", [*SCHEMES, "fixed", "fixed:3"])
@pytest.mark.parametrize("bits", [8, 4])
def test_nan_is_coded_zero_and_inf_saturates_with_a_finding(scheme, bits):
    w = np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32)
    clean = requantize(w, scheme, bits)
    w[1, 3], w[2, 40], w[4, 0] = np.nan, np.inf, -np.inf
    r = requantize(w, scheme, bits)
    qmax = 127 if bits == 8 else 7
    assert (r.codes[1, 3], r.codes[2, 40], r.codes[4, 0]) == (0, qmax, -qmax)
    assert np.isfinite(r.values).all() and np.isfinite(r.scale).all()
    # The ranges are those of the finite values: every other code is what the clean weight gets,
    # except in the rows whose range the clean weight took from a value now replaced.
    untouched = [i for i in range(5) if i not in (1, 2, 4)] if scheme != "per-tensor" else []
    assert np.array_equal(r.codes[untouched], clean.codes[untouched])
    assert r.findings == (f"requantization: 3 non-finite input value(s), the first at row 1, col 3: ranges leave "
                          f"them out, NaN is coded 0 and ±inf saturates to ±{qmax}; the NPU cannot carry them, so "
                          "the outputs they feed will not match the CPU's",)
    assert clean.findings == ()


@pytest.mark.filterwarnings("error")
def test_fp16_keeps_non_finite_values_and_reports_overflow():
    w = np.ones((2, 8), np.float32)
    w[0, 1], w[1, 2] = 1e6, np.nan
    r = requantize(w, "per-channel", 16)
    assert r.values[0, 1] == np.inf and np.isnan(r.values[1, 2])
    assert r.findings[0].startswith("requantization to fp16: 1 value(s) beyond ±65504 became ±inf, the first at row 0, col 1")
    assert r.findings[1] == "requantization to fp16: 1 non-finite input value(s) stay NaN or ±inf in fp16"
    assert requantize(np.ones((2, 8), np.float32), "per-channel", 16).findings == ()


@pytest.mark.parametrize("text", ["fixed:1e39", "fixed:1e-39", "fixed:1e-45"])
def test_a_fixed_range_outside_float32_is_refused(text):
    with pytest.raises(ValueError, match="outside float32's normal range"):
        parse_scheme(text)
    with pytest.raises(ValueError, match="outside float32's normal range"):
        requantize(np.ones((1, 4), np.float32), text)
    assert parse_scheme("fixed:3e38").clamp == 3e38


@pytest.mark.parametrize("scheme", ["per-channel", "per-tensor", "per-group:32", "fixed"])
def test_a_prepared_weight_without_values_multiplies_alike(scheme):
    from array_weight import ArrayWeight

    from layoutscope.backend import get_backend

    rng = np.random.default_rng(5)
    weight = ArrayWeight(rng.standard_normal((40, 96)).astype(np.float32) * 0.1)
    x = rng.standard_normal((3, 96)).astype(np.float32)
    backend = get_backend("npu-sim", mm="int8-fp32" if scheme.startswith("per-group") else "int8", weight_quant=scheme)
    full, lean = backend.prepare(weight), backend.prepare(weight, keep_values=False)
    assert lean.values is None and lean.requantized.values is None
    assert np.array_equal(lean.requantized.codes, full.requantized.codes)
    assert np.array_equal(lean.requantized.scale, full.requantized.scale)
    assert np.array_equal(backend.matmul_prepared(lean, x).y, backend.matmul_prepared(full, x).y)
