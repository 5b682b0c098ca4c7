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


def _tiny_variant(path: Path, drop_tensors=(), drop_keys=(), set_keys=None) -> None:
    """The tiny sample rebuilt without some tensors or keys, or with some string keys changed."""
    from layoutscope.samples import make_samples
    from layoutscope.samples.ggufwrite import STRING

    b = make_samples.build_tiny_llama()
    b.tensors = [t for t in b.tensors if t.name not in drop_tensors]
    b.kv = [kv for kv in b.kv if kv[0] not in drop_keys]
    for key, value in (set_keys or {}).items():
        b.kv = [kv for kv in b.kv if kv[0] != key] + [(key, STRING, value, None)]
    b.write(path)


@builder("tied")
def _tied(path: Path) -> None:
    # Gemma-style: no output.weight, so token_embd.weight is also the output head.
    _tiny_variant(path, drop_tensors=("output.weight",))


@builder("noarch")
def _noarch(path: Path) -> None:
    _tiny_variant(path, drop_keys=("general.architecture",))


@builder("otherarch")
def _otherarch(path: Path) -> None:
    _tiny_variant(path, set_keys={"general.architecture": "gemma3"}, drop_tensors=("output.weight",))


def _says(*words: str, stream: str = "stdout", absent: tuple = ()):
    """A check that every word is in the stream and none of ``absent`` is."""
    def check(result, _crafted) -> None:
        text = getattr(result, stream)
        for w in words:
            assert w in text, (w, text)
        for w in absent:
            assert w not in text, (w, text)
    return check


def _json_says(path: Sequence, expected):
    """A check that the JSON on stdout holds ``expected`` at ``path``."""
    def check(result, _crafted) -> None:
        import json

        data = json.loads(result.stdout)
        for key in path:
            data = data[key]
        assert data == expected, data
    return check


def _name_lines_at_most(width: int):
    """A check that every stdout line listing tensor names is at most ``width`` characters."""
    def check(result, _crafted) -> None:
        listing = [line for line in result.stdout.splitlines() if ".weight" in line]
        assert listing and max(len(line) for line in listing) <= width, result.stdout
    return check


CLASS_8: list[Case] = [
    # The tied output head: scan names its double role; dump and compare explain the tie.
    Case("scan-names-tied-head", ("scan", "{tied}", "--filter", "token_embd", "--jobs", "1"), 0,
         check=_says("token_embd.weight (+output)", "used twice: as the embedding lookup and as the output head")),
    Case("scan-json-marks-tied-head", ("scan", "{tied}", "--filter", "token_embd", "--jobs", "1", "--json", "-"), 0,
         check=_json_says(("rows", 0, "tied_output"), True)),
    Case("dump-output-explains-tie", ("dump", "{tied}", "output.weight"), 2,
         ("tied to token_embd.weight", "use token_embd.weight")),
    Case("compare-output-explains-tie", ("compare", "{tied}", "output.weight"), 2, ("tied to token_embd.weight",)),
    Case("untied-head-not-marked", ("scan", "{tiny}", "--filter", "token_embd|output", "--jobs", "1"), 0,
         check=_says("output.weight", absent=("(+output)", "used twice"))),
    # Long lists are wrapped and cut at --top with a count.
    Case("scan-skipped-list-wrapped", ("scan", "{tiny}", "--filter", "norm", "--top", "3"), 0,
         check=lambda r, c: (_says("skipped (9):", "… and 6 more (--top N")(r, c), _name_lines_at_most(110)(r, c))),
    Case("diff-only-in-a-counted", ("diff", "{tiny}", "{otherarch}", "--top", "4"), 0,
         check=_says("only in A (1):", "output.weight")),
    Case("diff-long-only-in-list-cut", ("diff", "{tiny}", str(sample_path("all-types.gguf")), "--top", "2"), 0,
         check=lambda r, c: (_says("only in A (39):", "… and 37 more", "only in B (33):", "… and 31 more")(r, c),
                             _name_lines_at_most(110)(r, c))),
    # Empty results say so.
    Case("scan-filter-matches-nothing", ("scan", "{tiny}", "--filter", "nothing-like-this"), 2,
         ("matches none of the 39 tensors", "check the pattern")),
    Case("diff-filter-matches-nothing", ("diff", "{tiny}", "{tied}", "--filter", "zzz"), 2, ("matches no tensor",)),
    Case("scan-only-skipped-tensors", ("scan", "{tiny}", "--filter", "norm"), 0,
         check=_says("no matmul weight was scanned", absent=("worst first",))),
    Case("info-without-architecture", ("info", "{noarch}"), 0,
         check=_says("no architecture (general.architecture is missing", absent=("None",))),
    Case("diff-of-two-architectures", ("diff", "{tiny}", "{otherarch}"), 0,
         check=_says("different architectures: A is llama, B is gemma3")),
    Case("diff-json-names-architectures", ("diff", "{tiny}", "{otherarch}", "--json"), 0,
         check=_json_says(("architecture_b",), "gemma3")),
    # The explain trap table is never empty (last row of a 4-bit type runs past the tensor).
    Case("explain-trap-last-row", ("explain", str(sample_path("all-types.gguf")), "q6_k.weight", "--at", "47,511"), 0,
         check=_says("read as plain int8", "past the tensor's end", "     511")),
]


# == the table runner ===================================================================

ALL_CASES = {"1": CLASS_1, "2": CLASS_2, "3": CLASS_3, "4": CLASS_4, "5": CLASS_5, "6": CLASS_6, "8": CLASS_8}


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"class{k}-{c.id}") for k, cases in ALL_CASES.items() for c in cases])
def test_cli_case(case: Case, crafted: Crafted) -> None:
    run_case(case, crafted)


def test_every_case_id_is_unique() -> None:
    ids = [c.id for cases in ALL_CASES.values() for c in cases]
    assert len(ids) == len(set(ids))
