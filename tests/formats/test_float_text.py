"""The vectorised shortest text is byte-identical to the one-value search, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from float_cases import SPECIAL

from layoutscope.formats.float_text import shortest_text, shortest_texts


def old_texts(values: np.ndarray) -> list[str]:
    return [shortest_text(v) for v in np.asarray(values, np.float32).ravel()]


def test_special_values():
    assert shortest_texts(SPECIAL) == old_texts(SPECIAL)
    assert shortest_texts(SPECIAL)[:2] == ["0", "-0"] and shortest_texts(SPECIAL)[-3:] == ["inf", "-inf", "nan"]


def test_every_power_of_two_and_its_neighbours():
    powers = np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32)
    near = np.concatenate([powers, np.nextafter(powers, np.float32(0)), np.nextafter(powers, np.float32(np.inf))])
    near = near[np.isfinite(near)]
    assert shortest_texts(near) == old_texts(near)
    assert shortest_texts(-near) == old_texts(-near)


def test_random_bit_patterns():
    bits = np.random.default_rng(1).integers(0, 2**32, 40_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    assert shortest_texts(values) == old_texts(values)


@pytest.mark.parametrize("seed", [0, 1])
def test_dequantized_weights(seed):
    rng = np.random.default_rng(seed)
    d = rng.uniform(5e-4, 4e-3, 1_000).astype(np.float16).astype(np.float32).repeat(32)
    values = d * rng.integers(-127, 128, d.size).astype(np.float32)
    normal = (rng.standard_normal(20_000) * 0.02).astype(np.float32)
    values = np.concatenate([values, normal, np.float32(1000) * normal]).reshape(-1, 100)
    assert shortest_texts(values) == old_texts(values)


def test_empty_and_two_dimensional():
    assert shortest_texts(np.zeros((0, 4), np.float32)) == []
    assert shortest_texts(np.array([[1.5, -2.25], [0.1, 3e-7]], np.float32)) == ["1.5", "-2.25", "0.1", "3e-07"]
