"""The randomized Hadamard rotation: Sylvester's H, orthogonal up to its length, and a product it leaves unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from community_reference import butterflies

from layoutscope.backend.community import hadamard


@pytest.mark.parametrize("length", [1, 2, 8, 64, 1024])
def test_the_transform_is_sylvesters_h_and_h_times_h_is_length_times_i(length):
    h = hadamard.fwht(np.eye(length, dtype=np.float32))
    np.testing.assert_array_equal(h, hadamard.matrix(length))
    np.testing.assert_array_equal(h.astype(np.float64) @ h, length * np.eye(length))


def test_the_vectorised_stages_round_like_the_backends_butterflies():
    x = np.random.default_rng(0).standard_normal((7, 2048)).astype(np.float32)
    np.testing.assert_array_equal(hadamard.fwht(x.copy()), butterflies(x))


@pytest.mark.parametrize("layout, k, k_op, hdiv", [("padded", 24, 32, 32), ("padded", 64, 64, 64),
                                                    ("block-diagonal", 24, 24, 8), ("block-diagonal", 192, 192, 64)])
def test_the_rotated_matmul_equals_the_plain_one_in_exact_arithmetic(layout, k, k_op, hdiv):
    # Small integers: every sum in float32 is exact, so (H·D·w)·(H·D·x) / hdiv must equal w·x exactly.
    rng = np.random.default_rng(1)
    w = rng.integers(-8, 9, size=(5, k)).astype(np.float32)
    x = rng.integers(-8, 9, size=(3, k)).astype(np.float32)
    signs = hadamard.sign_vector(0, "t", hadamard.k_op(k, layout))
    rw, rx = hadamard.rotate(w, signs, layout), hadamard.rotate(x, signs, layout)
    assert rw.shape == (5, k_op) and hadamard.divisor(k, layout) == hdiv
    np.testing.assert_array_equal(rx.astype(np.float64) @ rw.T.astype(np.float64) / hdiv,
                                  x.astype(np.float64) @ w.T.astype(np.float64))


def test_padding_is_zero_and_unsigned_and_the_signs_are_plus_or_minus_one():
    signs = hadamard.sign_vector(0, "blk.0.attn_q.weight", 16)
    assert set(np.unique(signs)) <= {-1.0, 1.0} and signs.dtype == np.float32
    one = np.zeros((1, 12), dtype=np.float32)
    one[0, 0] = 1
    # e_0 rotated: the sign of element 0 times H's first row (all ones), over all 16 outputs.
    np.testing.assert_array_equal(hadamard.rotate(one, signs)[0], np.full(16, signs[0]))
    assert np.array_equal(signs, hadamard.sign_vector(0, "blk.0.attn_q.weight", 16))
    assert not np.array_equal(signs, hadamard.sign_vector(0, "blk.0.attn_k.weight", 16))


def test_a_non_power_of_two_transform_is_refused():
    with pytest.raises(ValueError, match="power-of-two"):
        hadamard.fwht(np.zeros((1, 12), dtype=np.float32))
