"""Compile the fake librknnrt (``fake_rknnrt.c``) for one runtime generation.

The test suite builds the library itself so the ctypes binding can be tested
without an NPU or Rockchip's binary. Only a C99 compiler (cc, gcc or clang)
is needed; the source has no dependencies beyond libc and libm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

SOURCE = Path(__file__).with_name("fake_rknnrt.c")

#: Generation names accepted by :func:`build` → the ``FAKE_RKNN_GEN`` value.
GENERATIONS = {"1.5": 150, "1.6": 160, "2.0": 200, "2.1": 210, "2.3": 232}

#: The version string each generation embeds (after ``librknnrt version: ``).
VERSIONS = {"1.5": "1.5.2", "1.6": "1.6.0", "2.0": "2.0.0b0", "2.1": "2.1.0", "2.3": "2.3.2"}

FLAGS = ("-std=c99", "-Wall", "-Wextra", "-O2", "-shared", "-fPIC")


class CompilerNotFound(RuntimeError):
    """No C compiler on PATH, so the fake cannot be built (tests skip on this)."""


class BuildFailed(RuntimeError):
    """The compiler rejected the fake's source; the message carries its output."""


def find_compiler() -> str:
    """Path of ``cc``, else ``gcc``, else ``clang``; :class:`CompilerNotFound` if none."""
    found = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not found:
        raise CompilerNotFound("no C compiler (cc/gcc/clang) on PATH: the fake librknnrt cannot be built")
    return found


def build(generation: str, out_dir: Path, extra_flags: Iterable[str] = ()) -> Path:
    """Compile the fake for ``generation`` ("1.5" … "2.3") to ``out_dir/librknnrt.so``.

    The real file name is used so loaders that look for ``librknnrt.so`` in
    a directory find it. ``extra_flags`` (e.g. ``["-Werror"]``) go to the
    compiler as-is. The library is written to a temporary name and renamed,
    so a reader never maps a half-written file.
    """
    if generation not in GENERATIONS:
        raise ValueError(f"unknown runtime generation {generation!r}; choose from {', '.join(GENERATIONS)}")
    compiler = find_compiler()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "librknnrt.so"
    fd, tmp_name = tempfile.mkstemp(prefix=".librknnrt-", suffix=".so", dir=out_dir)
    os.close(fd)
    cmd = [compiler, *FLAGS, *extra_flags, f"-DFAKE_RKNN_GEN={GENERATIONS[generation]}", str(SOURCE),
           "-o", tmp_name, "-lm"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildFailed(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
