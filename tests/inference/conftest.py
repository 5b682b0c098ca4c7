"""Fixtures of the inference tests: the tiny llama loaded once by llama.cpp, its GGUF view, and the bundled text."""

from __future__ import annotations

import pytest

#: Tokens per chunk in these tests: short chunks keep each decode in tens of milliseconds.
CTX = 64


@pytest.fixture(scope="session")
def tiny_model(tiny_llama_path):
    """The tiny sample opened by layoutscope's GGUF reader (what a backend multiplies)."""
    from layoutscope.gguf import open_model

    model = open_model(str(tiny_llama_path))
    yield model
    model.close()


@pytest.fixture(scope="session")
def engine(tiny_llama_path, tiny_model):
    """The tiny sample loaded by llama.cpp, chunks of up to :data:`CTX` tokens, 1 thread (2 cores are shared)."""
    from layoutscope.inference.engine import Engine

    with Engine(str(tiny_llama_path), [t.name for t in tiny_model.tensors], ctx=CTX, threads=1) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def text_tokens(engine):
    """The bundled text's tokens (no BOS)."""
    from layoutscope.inference.text import read_text

    return engine.tokenize(read_text(None)[0])


@pytest.fixture(scope="session")
def first_chunks(engine, text_tokens):
    """The first two chunks of the bundled text, BOS first, every position scored."""
    from layoutscope.inference.text import chunks

    return chunks(text_tokens, CTX, engine.bos, limit=2)


@pytest.fixture(scope="session")
def weights(engine, first_chunks):
    """The weights llama.cpp runs as MUL_MAT, in its order."""
    from layoutscope.inference.evaluate import matmul_weights

    return matmul_weights(engine, first_chunks[0].tokens)
