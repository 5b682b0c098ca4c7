"""The bundled samples: reproducible byte for byte, and shaped as the issue promises."""

from __future__ import annotations

import os

import layoutscope
from layoutscope.formats import all_types
from layoutscope.samples import ALL_TYPES, TINY_LLAMA, make_samples, path


def test_make_samples_reproduces_the_committed_bytes():
    for name, build in make_samples.BUILDERS.items():
        assert build().to_bytes() == path(name).read_bytes(), f"{name} differs: run samples/make_samples.py"


def test_samples_fit_the_size_budget():
    assert sum(os.path.getsize(path(n)) for n in (TINY_LLAMA, ALL_TYPES)) <= 8 * 2**20


def test_tiny_llama_shape():
    with layoutscope.open(path(TINY_LLAMA)) as m:
        assert m.block_count >= 4
        assert {t.layer for t in m.tensors if t.layer is not None} == set(range(m.block_count))
        assert m.tensor("output.weight").ne[1] % 32 != 0  # an N that is not a multiple of 32
        assert len(m.metadata["tokenizer.ggml.tokens"]) == m.tensor("output.weight").ne[1]
        assert len(m.metadata["tokenizer.ggml.scores"]) == len(m.metadata["tokenizer.ggml.token_type"])
        assert {t.type.name for t in m.tensors} == {"Q8_0", "F32"}
        assert not m.warnings


def test_all_types_has_every_weight_type():
    weight_types = {t.name for t in all_types() if not t.removed and t.is_weight_type}
    with layoutscope.open(path(ALL_TYPES)) as m:
        assert {t.type.name for t in m.tensors} == weight_types
        for t in m.tensors:
            assert t.dequantize().shape == (48, 512)
