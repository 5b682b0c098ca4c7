"""Shared fixtures: the real ggml library and the bundled samples."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ggml():
    """The real ggml (libggml-python); the reference for every format test."""
    from layoutscope.backend.libggml import load

    return load()


def _sample_path(name: str, build, tmp_path_factory):
    """A bundled sample, or the same file built into tmp when it is not generated yet."""
    from layoutscope import samples

    try:
        return samples.path(name)
    except FileNotFoundError:
        out = tmp_path_factory.mktemp("samples") / name
        build().write(out)
        return out


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory):
    """Path of ``tiny-llama-q8_0.gguf`` (built into tmp if the sample is missing)."""
    from layoutscope.samples import TINY_LLAMA, make_samples

    return _sample_path(TINY_LLAMA, make_samples.build_tiny_llama, tmp_path_factory)


@pytest.fixture(scope="session")
def all_types_path(tmp_path_factory):
    """Path of ``all-types.gguf`` (built into tmp if the sample is missing)."""
    from layoutscope.samples import ALL_TYPES, make_samples

    return _sample_path(ALL_TYPES, make_samples.build_all_types, tmp_path_factory)
