"""A backend needs only ``TensorLike`` of a weight: the reader's Tensor is one, and so is a small fake."""

from __future__ import annotations

import types

import numpy as np
import pytest

from array_weight import ArrayWeight

import layoutscope
from layoutscope.backend import TensorLike, TensorTypeLike, get_backend


def test_the_readers_tensor_is_tensor_like(tiny_llama_path):
    with layoutscope.open(tiny_llama_path) as model:
        for tensor in model.tensors:
            assert isinstance(tensor, TensorLike)
            assert isinstance(tensor.type, TensorTypeLike)


def test_a_fake_is_tensor_like_and_one_without_raw_is_not():
    weight = ArrayWeight(np.ones((4, 32)))
    assert isinstance(weight, TensorLike) and isinstance(weight.type, TensorTypeLike)
    values_only = types.SimpleNamespace(**{k: getattr(weight, k) for k in ("name", "type", "ne", "n_dims", "n_rows",
                                                                           "byteorder", "dequantize", "require_data")})
    assert not isinstance(values_only, TensorLike)


@pytest.mark.parametrize("backend", ["cpu-numpy", "npu-sim"])
def test_backends_multiply_a_fake_weight(backend):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((48, 64)).astype(np.float32)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    y = get_backend(backend).matmul(ArrayWeight(w), x).y
    expected = x.astype(np.float64) @ w.T.astype(np.float64)
    nmse = float(np.sum((y - expected) ** 2) / np.sum(expected ** 2))
    assert y.shape == (3, 48) and nmse < 1e-3
