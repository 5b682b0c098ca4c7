"""The command line against hostile files and options (issue 10's classes), table-driven.

Every case runs the real CLI in a subprocess, on files crafted here (never on
a downloaded model), and asserts what a user relies on: the exit code, a
single stderr line for an error, no traceback and no Python warning, and that
the model file is untouched. One table per class; each case is a
:class:`Case`, and ``{name}`` in its argv is the path of crafted file ``name``
(see :func:`crafted`), built on first use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pytest

from layoutscope.samples import TINY_LLAMA, path as sample_path

# -- running the CLI ----------------------------------------------------------


def run_cli(argv: Sequence[str], *, cwd=None, env: Optional[dict] = None, stdin: Optional[str] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m layoutscope ARGV`` with warnings shown (so a stray one fails the case)."""
    return subprocess.run(
        [sys.executable, "-m", "layoutscope", *argv],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, input=stdin,
        env={**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default", **(env or {})},
    )


def assert_clean(result: subprocess.CompletedProcess) -> None:
    """No traceback and no Python warning on stderr, whatever the outcome."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "Warning:" not in result.stderr, result.stderr


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit ``code``, exactly one ``layoutscope: error: …`` line on stderr holding every word."""
    assert_clean(result)
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("layoutscope: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# -- crafted files --------------------------------------------------------------

#: name -> builder(path) writing one crafted file; ``{name}`` in a case's argv is its path.
BUILDERS: dict[str, Callable[[Path], None]] = {}


def builder(name: str):
    """Register a crafted-file builder under ``name``."""
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        BUILDERS[name] = fn
        return fn
    return register


@builder("tiny")
def _tiny(path: Path) -> None:
    path.write_bytes(sample_path(TINY_LLAMA).read_bytes())


@builder("tiny_ro")
def _tiny_ro(path: Path) -> None:
    path.write_bytes(sample_path(TINY_LLAMA).read_bytes())
    path.chmod(0o444)


class Crafted:
    """Crafted files of one test, built on first use into its own directory."""

    def __init__(self, root: Path):
        self.root = root
        self._digests: dict[str, str] = {}

    def path(self, name: str) -> Path:
        """The path of crafted file ``name`` (built now if it is not yet)."""
        target = self.root / f"{name}.gguf"
        if not target.exists() and not target.is_symlink():
            BUILDERS[name](target)
            if target.is_file():
                self._digests[name] = _digest(target)
        return target

    def format(self, argv: Sequence[str]) -> list[str]:
        """``argv`` with every ``{name}`` replaced by the crafted file's path and ``{dir}`` by the directory."""
        out = []
        for arg in argv:
            for name in BUILDERS:
                token = "{" + name + "}"
                if token in arg:
                    arg = arg.replace(token, str(self.path(name)))
            out.append(arg.replace("{dir}", str(self.root)))
        return out

    def assert_models_untouched(self) -> None:
        """Every crafted model built in this test still has its original bytes."""
        for name, digest in self._digests.items():
            target = self.root / f"{name}.gguf"
            assert target.is_file() and not target.is_symlink(), f"{target} was replaced"
            assert _digest(target) == digest, f"{target} was written to"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def crafted(tmp_path) -> Crafted:
    """A fresh :class:`Crafted` for one test."""
    return Crafted(tmp_path)


# -- cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One CLI run: ``argv`` (with ``{name}`` placeholders), the exit code, and the words of its error line.

    ``words`` empty and ``code`` 0 means success; ``check(result, crafted)`` asserts anything more.
    """

    id: str
    argv: tuple
    code: int
    words: tuple = ()
    check: Optional[Callable] = None
    env: dict = field(default_factory=dict)
    stdin: Optional[str] = None
    timeout: float = 120


def run_case(case: Case, crafted: Crafted) -> subprocess.CompletedProcess:
    """Run ``case`` and assert its contract; returns the finished process for further checks."""
    result = run_cli(crafted.format(case.argv), cwd=crafted.root, env=case.env, stdin=case.stdin,
                     timeout=case.timeout)
    if case.code in (0, 3) and not case.words:
        assert_clean(result)
        assert result.returncode == case.code, (result.returncode, result.stderr)
    else:
        assert_one_line_error(result, case.code, *case.words)
    if case.check is not None:
        case.check(result, crafted)
    crafted.assert_models_untouched()
    return result


# == 1. The model file is never written ==========================================

CLASS_1: list[Case] = []


# == 2. Exports write where the user pointed, with normal permissions ==============

CLASS_2: list[Case] = []


# == 3. Nothing reaches ggml that makes it abort ===================================

CLASS_3: list[Case] = []


# == 4. Byte order and non-finite values give true answers ==========================

CLASS_4: list[Case] = []


# == 5. Every option is validated, with the tool's own words ========================

CLASS_5: list[Case] = []


# == 6. Odd files and terminals ======================================================

CLASS_6: list[Case] = []


# == 8. Smaller, from the same pass ==================================================

CLASS_8: list[Case] = []


# == the table runner ===================================================================

ALL_CASES = {"1": CLASS_1, "2": CLASS_2, "3": CLASS_3, "4": CLASS_4, "5": CLASS_5, "6": CLASS_6, "8": CLASS_8}


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"class{k}-{c.id}") for k, cases in ALL_CASES.items() for c in cases])
def test_cli_case(case: Case, crafted: Crafted) -> None:
    run_case(case, crafted)


def test_every_case_id_is_unique() -> None:
    ids = [c.id for cases in ALL_CASES.values() for c in cases]
    assert len(ids) == len(set(ids))
