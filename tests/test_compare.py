"""Metrics and verdict bands."""

from __future__ import annotations

import numpy as np
import pytest

from layoutscope.compare import compare, verdict


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
