"""Shared fixtures: the real ggml library and the bundled samples."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ggml():
    """The real ggml (llama-cpp-python's); the reference for every format test."""
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


def _load_fake_rknnrt_builder():
    """``tests/backend/fake_rknnrt/build.py`` as a module (tests/ is not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "layoutscope_tests_fake_rknnrt_build"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "backend" / "fake_rknnrt" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fake_rknnrt(tmp_path_factory):
    """Factory ``build(generation="2.3") -> Path`` of a fake ``librknnrt.so`` compiled from C.

    Each generation ("1.5", "1.6", "2.0", "2.1", "2.3") is compiled once per
    session into its own directory. Skips the test when there is no C
    compiler. The library is process-global once loaded: call its
    ``fake_rknn_reset()`` at the start of a test.
    """
    builder = _load_fake_rknnrt_builder()
    built: dict = {}

    def build(generation: str = "2.3"):
        if generation not in built:
            try:
                builder.find_compiler()
            except builder.CompilerNotFound:
                pytest.skip("no C compiler (cc/gcc/clang) on PATH: the fake librknnrt cannot be built")
            out_dir = tmp_path_factory.mktemp(f"fake-rknnrt-{generation}")
            built[generation] = builder.build(generation, out_dir)
        return built[generation]

    return build
