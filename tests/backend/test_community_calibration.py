"""The calibration searches on hand-made arrays and histograms."""

from __future__ import annotations

import numpy as np
import pytest
from community_reference import kl_amax as reference_kl

from layoutscope.backend.community import calibration


@pytest.mark.parametrize("n, index", [(2048, 2045), (4096, 4091), (8192, 8183), (1000, 999), (3, 2)])
def test_percentile_index_follows_float32_arithmetic(n, index):
    assert calibration.percentile_index(n, 99.9) == index


def test_percentile_picks_the_kth_largest_of_a_column_with_one_outlier():
    column = np.linspace(0.001, 0.5, 2048, dtype=np.float32)
    column[100] = 40.0  # the outlier
    rng = np.random.default_rng(0)
    rng.shuffle(column)
    # 2048 values: index 2045 ascending, the 3rd largest. The outlier is the largest; 0.5 and the next follow.
    third = np.sort(np.abs(column))[-3]
    assert calibration.percentile_amax(column[None, :])[0] == third
    assert calibration.max_amax(column[None, :])[0] == np.float32(40.0)


def test_mse_picks_the_only_candidate_that_does_not_wrap():
    # 2045 zeros and 0.5, 0.9, 1.0: lo = 0.5 (the 99.9 percentile), hi = 1.0, candidates 0.5 + i/256.
    # Below c = 0.99609375 (i = 127), 1.0/(c/127) rounds to 128 or more and wraps to a negative code:
    # a huge error. c_127 keeps 1.0 at code 127: the search's answer. hi itself is never a candidate.
    w = np.zeros(2048, dtype=np.float32)
    w[:3] = [0.5, 0.9, 1.0]
    assert calibration.mse_amax(w[None, :], cast="wrap")[0] == np.float32(0.99609375)
    # Without the wrap, clipping 1.0 to 127 costs (1 − c)²; a smaller candidate can then win.
    clamp = calibration.mse_amax(w[None, :], cast="clamp")[0]
    assert np.float32(0.5) <= clamp < np.float32(1.0)


def test_mse_of_a_row_whose_percentile_is_its_max_is_the_max_and_of_zeros_is_zero():
    rows = np.zeros((2, 2048), dtype=np.float32)
    rows[0] = 0.25  # every value equal: lo = hi
    np.testing.assert_array_equal(calibration.mse_amax(rows), [0.25, 0.0])


def test_the_int8_cast_wraps_mod_256_like_gcc_on_aarch64():
    values = np.array([127.0, 128.0, 200.0, -129.0, 256.0, 3.0])
    np.testing.assert_array_equal(calibration.int8_cast(values.copy(), "wrap"), [127, -128, -56, 127, 0, 3])
    np.testing.assert_array_equal(calibration.int8_cast(values.copy(), "clamp"), values)


def test_kl_of_a_grid_distribution_keeps_the_grid():
    # 15 equally likely levels k·0.1 (k = −7..7): the 99.5 percentile is the max, so the one candidate is 0.7.
    levels = (np.arange(-7, 8) * 0.1).astype(np.float32)
    block = np.repeat(levels, 100)
    assert calibration.kl_amax(block) == np.float32(0.7)


def test_kl_clips_outliers_and_matches_a_loop_written_from_the_sheet():
    rng = np.random.default_rng(3)
    block = (rng.standard_normal(4096) * 0.05).astype(np.float32)
    block[:4] = [1.0, -0.9, 0.8, 0.6]  # outliers far outside the bulk: clipping them keeps the bulk's resolution
    found = calibration.kl_amax(block)
    assert found == reference_kl(block)
    lo = np.sort(np.abs(block))[int(np.float32(4096) * np.float32(99.5) / np.float32(100))]
    assert lo <= found < 1.0


def test_kl_of_zeros_is_zero():
    assert calibration.kl_amax(np.zeros(64, dtype=np.float32)) == 0
