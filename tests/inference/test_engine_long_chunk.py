"""A chunk of 256 tokens or more decodes (its positions reach llama.cpp intact)."""

from __future__ import annotations

import numpy as np

import layoutscope


def test_a_full_256_token_chunk_decodes_like_its_prefix(tiny_llama_path):
    from layoutscope.inference.engine import Engine
    from layoutscope.inference.text import read_text

    with layoutscope.open(tiny_llama_path) as model:
        names = [t.name for t in model.tensors]
    with Engine(tiny_llama_path, names, ctx=256, threads=1) as engine:
        tokens = np.concatenate([[engine.bos], engine.tokenize(read_text(None)[0])])[:256].astype(np.int32)
        assert len(tokens) == 256
        full = engine.decode(tokens).copy()
        prefix = engine.decode(tokens[:100]).copy()
    assert full.shape == (256, engine.facts.n_vocab) and np.isfinite(full).all()
    # Causal attention: the first 100 positions do not see the rest of the chunk.
    assert np.allclose(full[:100], prefix, rtol=1e-4, atol=1e-4)
