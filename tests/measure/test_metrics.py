"""Metrics and verdict bands."""

from __future__ import annotations

import numpy as np
import pytest

from layoutscope.measure.metrics import compare, verdict


def test_identical_results():
    r = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    m = compare(r.copy(), r)
    assert m.nmse == 0 and m.snr_db == float("inf") and m.cosine == pytest.approx(1.0)
    assert m.max_abs == 0 and m.verdict == "ok" and m.exact_fraction is None


def test_nmse_snr_cosine_values():
    r = np.array([[3.0, 4.0]])
    y = np.array([[3.0, 5.0]])
    m = compare(y, r)
    assert m.nmse == pytest.approx(1 / 25)
    assert m.snr_db == pytest.approx(-10 * np.log10(1 / 25))
    assert m.cosine == pytest.approx((9 + 20) / (5 * np.sqrt(34)))
    assert m.max_abs == 1 and m.mean_abs == 0.5 and m.verdict == "broken"
    assert (m.worst[0].m, m.worst[0].n, m.worst[0].abs_err) == (0, 1, 1.0)


def test_integer_exact_fraction_and_worst_order():
    r = np.zeros((2, 3), np.int32) + 100
    y = r.copy()
    y[1, 2] = 90
    y[0, 1] = 99
    m = compare(y, r, k_worst=2)
    assert m.exact_fraction == pytest.approx(4 / 6)
    assert [(w.m, w.n) for w in m.worst] == [(1, 2), (0, 1)]


def test_verdict_bands():
    assert verdict(5e-4) == "ok" and verdict(5.0001e-4) == "degraded"
    assert verdict(1e-2) == "degraded" and verdict(0.02) == "broken" and verdict(float("nan")) == "broken"
    assert verdict(1e-3, bands=(1e-2, 1e-1)) == "ok"


def test_shape_mismatch_and_zero_reference():
    with pytest.raises(ValueError, match="shapes differ"):
        compare(np.zeros((2, 2)), np.zeros((2, 3)))
    m = compare(np.ones((1, 2)), np.zeros((1, 2)))
    assert m.nmse == float("inf") and m.verdict == "broken"


# -- non-finite values: findings, and metrics over the finite part ---------------------------------
import json  # noqa: E402

from layoutscope.measure.metrics import ErrorAccumulator, error_summary  # noqa: E402
from layoutscope.measure.jsonable import jsonable  # noqa: E402
from layoutscope.measure.nonfinite import find_nonfinite  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error")  # a numpy RuntimeWarning anywhere here fails the test


def _clean(shape=(4, 8), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_a_one_sided_nan_is_left_out_of_every_metric_and_breaks_the_verdict():
    r = _clean()
    y = r + np.float32(0.01)
    y[1, 2] = np.nan
    m = compare(y, r, names=("Y", "ref"))
    keep = np.ones(r.shape, bool)
    keep[1, 2] = False
    finite = compare(y[keep], r[keep])  # the same metrics, computed on the finite part alone
    assert (m.nmse, m.snr_db, m.cosine, m.max_abs, m.mean_abs) == pytest.approx(
        (finite.nmse, finite.snr_db, finite.cosine, finite.max_abs, finite.mean_abs))
    assert np.isfinite(m.max_abs) and m.nmse < 1e-3
    assert m.verdict == "broken" and m.mismatched == 1 and m.same_nonfinite == 0 and m.measured == 31
    assert (m.worst[0].m, m.worst[0].n) == (1, 2)  # the mismatch is the worst element
    assert [f.text() for f in m.nonfinite] == ["Y: 1 of 32 values are not finite (1 NaN), the first at m 1, n 2"]
    assert "one side only" in m.excluded_text and "broken" in m.excluded_text


def test_the_same_non_finite_value_on_both_sides_is_left_out_and_the_rest_measured():
    r = _clean()
    r[0, 0], r[2, 3] = np.nan, -np.inf
    y = r.copy()
    m = compare(y, r)
    assert m.nmse == 0 and m.max_abs == 0 and m.verdict == "ok"
    assert m.same_nonfinite == 2 and m.mismatched == 0 and m.measured == 30
    assert len(m.nonfinite) == 2


def test_different_non_finite_values_are_a_mismatch():
    r = _clean()
    y = r.copy()
    r[0, 0], y[0, 0] = np.inf, -np.inf
    r[0, 1], y[0, 1] = np.nan, np.inf
    m = compare(y, r)
    assert m.mismatched == 2 and m.verdict == "broken" and m.nmse == 0


def test_nothing_finite_to_measure_gives_nan_figures_and_broken():
    m = compare(np.full((2, 2), np.nan, np.float32), np.ones((2, 2), np.float32))
    assert np.isnan(m.nmse) and np.isnan(m.cosine) and m.verdict == "broken" and m.measured == 0


def test_metrics_json_uses_strings_for_non_finite_numbers_only():
    r = _clean()
    y = r.copy()
    y[0, 0] = np.inf
    data = compare(y, r).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["snr_db"] == "inf" and data["nmse"] == 0.0 and isinstance(data["max_abs"], float)
    assert data["worst"][0]["value"] == "inf" and data["nonfinite"][0]["posinf"] == 1
    assert "NaN" not in text and "Infinity" not in text


def test_jsonable_turns_every_non_finite_number_into_a_string():
    value = {"a": float("nan"), 2: (np.float32(np.inf), -np.inf), "arr": np.array([1.0, np.nan])}
    assert jsonable(value) == {"a": "nan", "2": ["inf", "-inf"], "arr": [1.0, "nan"]}


def test_error_accumulator_measures_the_finite_part_in_blocks_and_locates_the_first_value():
    w = _clean((300, 1024), seed=1)
    q = w + np.float32(1e-3)
    w[150, 7], q[201, 3], w[250, 9], q[250, 9] = np.nan, np.inf, np.inf, np.inf
    acc = ErrorAccumulator(names=("q", "w"), axes=("n", "k"))
    step = 100  # pieces of rows, each at its offset
    for start in range(0, 300, step):
        acc.add(q[start:start + step], w[start:start + step], start)
    s = acc.result()
    finite = np.isfinite(w) & np.isfinite(q)
    err = q[finite].astype(np.float64) - w[finite]
    assert s.nmse == pytest.approx(np.sum(err ** 2) / np.sum(w[finite].astype(np.float64) ** 2), rel=1e-5)
    assert s.max_abs == pytest.approx(np.abs(err).max())
    assert s.mismatched == 2 and s.same_nonfinite == 1 and s.measured == w.size - 3
    assert s.verdict() == "broken"
    found = {f.what: f for f in s.nonfinite}
    assert found["w"].first == (150, 7) and found["w"].count == 2 and found["w"].nan == 1
    assert found["q"].first == (201, 3) and found["q"].count == 2 and found["q"].posinf == 2
    assert found["q"].size == found["w"].size == w.size


def test_error_accumulator_survives_values_whose_squares_overflow_float32():
    w = np.full((2, 8), 3e38, np.float32)
    q = w.copy()
    q[0, 0] = -3e38
    s = error_summary(q, w)
    assert s.nmse == pytest.approx((6e38) ** 2 / (16 * 9e76), rel=1e-5)
    assert s.max_abs == pytest.approx(6e38, rel=1e-6) and s.mismatched == 0 and not s.nonfinite


def test_a_clean_array_has_no_finding():
    assert find_nonfinite(_clean(), "x") is None and find_nonfinite(np.arange(4), "ints") is None
    s = error_summary(_clean(seed=2), _clean(seed=3))
    assert not s.nonfinite and s.mismatched == 0 and s.measured == 32
