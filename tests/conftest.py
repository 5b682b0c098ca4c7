"""Shared fixtures: the real ggml library and the bundled samples."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ggml():
    """The real ggml (libggml-python); the reference for every format test."""
    from layoutscope.backend.libggml import load

    return load()
