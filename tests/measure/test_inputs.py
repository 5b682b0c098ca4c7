"""Activation inputs against the model (layoutscope.measure.inputs) and the memory check before allocating (memory)."""

from __future__ import annotations

import numpy as np
import pytest

import layoutscope
from layoutscope.measure import memory
from layoutscope.errors import ResourceError
from layoutscope.measure.inputs import load_input
from layoutscope.measure.settings import OptionError
from layoutscope.samples import TINY_LLAMA, path as sample_path


@pytest.fixture(scope="module")
def model():
    with layoutscope.open(sample_path(TINY_LLAMA)) as m:
        yield m


@pytest.fixture
def no_memory_limit(monkeypatch):
    monkeypatch.delenv(memory.LIMIT_ENV, raising=False)


def test_each_input_form_gives_float32_rows_of_width_k(model, tmp_path):
    x, described = load_input("random:3", model, 256, rows=5)
    assert x.shape == (5, 256) and x.dtype == np.float32 and "seed 3" in described
    x, _ = load_input("tokens:1,2", model, 256)
    assert np.array_equal(x, model.tensor("token_embd.weight").dequantize(slice(1, 3)))
    np.save(tmp_path / "x.npy", np.ones((3, 256), np.float32))
    x, _ = load_input(str(tmp_path / "x.npy"), model, 256)
    assert x.shape == (3, 256) and float(x.sum()) == 3 * 256


@pytest.mark.parametrize("array, words", [
    (np.zeros((0, 256), np.float32), "it has no rows"),
    (np.zeros((4, 255), np.float32), "shape is (4, 255)"),
    (np.zeros((4, 256), np.float64), "dtype is float64"),
    (np.zeros(256, np.float32), "shape is (256,)"),
])
def test_a_npy_of_the_wrong_shape_or_dtype_is_one_line_naming_input_once(model, tmp_path, array, words):
    target = tmp_path / "x.npy"
    np.save(target, array)
    with pytest.raises(OptionError) as caught:
        load_input(str(target), model, 256)
    message = str(caught.value)
    # A path is clipped from the front: the file name stays.
    assert message.startswith("--input '") and "x.npy': " in message and words in message
    assert message.count("--input") == 1


def test_token_ids_outside_the_vocabulary_and_a_wrong_width_are_refused(model):
    with pytest.raises(OptionError, match=r"^--input 'tokens:1,1000': token id 1000 is outside the vocabulary"):
        load_input("tokens:1,1000", model, 256)
    with pytest.raises(OptionError, match="token embeddings have 256 values but this weight takes K = 704"):
        load_input("tokens:1", model, 704)


def test_random_rows_beyond_the_memory_limit_are_refused_before_allocating(model, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "1M")
    with pytest.raises(ResourceError, match=r"^--rows 100: random X of 100×256 and its outputs of 100×1000: at least"):
        load_input("random", model, 256, rows=100, n=1000)
    warnings = []
    monkeypatch.setattr(memory, "on_warning", warnings.append)
    monkeypatch.setenv(memory.LIMIT_ENV, "2M")
    x, _ = load_input("random", model, 256, rows=100, n=1000)
    assert x.shape == (100, 256) and len(warnings) == 1 and "over half of the 2.0 MiB available" in warnings[0]


def test_without_a_known_limit_nothing_is_checked(monkeypatch, no_memory_limit):
    monkeypatch.setattr(memory, "MEMINFO", "/nonexistent/meminfo")
    assert memory.available() is None
    memory.require(1 << 60, "a huge request", "never refused when memory is unknown")
