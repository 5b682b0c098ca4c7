"""Start-up stays light: what a fresh process has imported after a bare import, ``--help`` and ``info``.

Each case runs in a new interpreter (this one has imported everything long
ago). A stand-in ``llama_cpp`` package is put on the path, so an accidental
import of llama.cpp's binding shows up here even where it is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("numpy", "textual", "llama_cpp")

RUN = r'''
import json, sys
try:
    {code}
except SystemExit:
    pass
finally:
    sys.stdout.flush()
    print("\nIMPORTED " + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
'''


def imported_after(code: str, tmp_path) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    stand_in = tmp_path / "stand-ins" / "llama_cpp"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('"""Stand-in: importing it is what the test looks for."""\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(stand_in.parent), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", RUN.format(code=code, heavy=HEAVY)], capture_output=True,
                            text=True, env=env, timeout=120)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("IMPORTED "), result.stdout + result.stderr
    return json.loads(last[len("IMPORTED "):])


def cli(*args: str) -> str:
    return f"from layoutscope.cli.main import main; main({list(args)!r})"


def test_the_stand_in_is_seen(tmp_path):
    """The check can fail: a process that does import llama_cpp is caught."""
    assert imported_after("import llama_cpp", tmp_path) == ["llama_cpp"]


def test_bare_import_loads_no_numpy_nor_textual(tmp_path):
    assert imported_after("import layoutscope", tmp_path) == []


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("info", "--help")])
def test_help_loads_no_numpy_textual_or_llama_cpp(tmp_path, args):
    assert imported_after(cli(*args), tmp_path) == []


def test_info_loads_no_textual_nor_llama_cpp(tmp_path, tiny_llama_path):
    loaded = imported_after(cli("info", str(tiny_llama_path)), tmp_path)
    assert "textual" not in loaded and "llama_cpp" not in loaded
