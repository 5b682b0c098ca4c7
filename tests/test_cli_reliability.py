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

import json  # noqa: E402 - kept inside this class's section
import stat  # noqa: E402

# Every command that writes a file, with {M} for the model it reads and {OUT} for the output path.
WRITERS = {
    "compare-csv": ("compare", "{M}", "blk.0.ffn_up.weight", "--csv", "{OUT}"),
    "compare-json-file": ("compare", "{M}", "blk.0.ffn_up.weight", "--json-file", "{OUT}"),
    "dump-csv": ("dump", "{M}", "output.weight", "--csv", "{OUT}"),
    "scan-csv": ("scan", "{M}", "--csv", "{OUT}"),
    "scan-json-file": ("scan", "{M}", "--json-file", "{OUT}"),
    "diff-csv": ("diff", "{tiny}", "{M}", "--csv", "{OUT}"),
    "diff-json-file": ("diff", "{tiny}", "{M}", "--json-file", "{OUT}"),
    "info-json-file": ("info", "{M}", "--json-file", "{OUT}"),
    "explain-json-file": ("explain", "{M}", "output.weight", "--json-file", "{OUT}"),
    "diagnose-json-file": ("diagnose", "{M}", "blk.0.ffn_up.weight", "--observed", "{dir}/y.npy",
                           "--input", "{dir}/x.npy", "--json-file", "{OUT}"),
}


@builder("m1_symlinked")
def _m1_symlinked(path: Path) -> None:
    """A model, and ``m1_symlinked.link`` beside it: a symlink to it."""
    _tiny(path)
    (path.parent / "m1_symlinked.link").symlink_to(path.name)


@builder("m1_hardlinked")
def _m1_hardlinked(path: Path) -> None:
    """A model, and ``m1_hardlinked.link`` beside it: a second name of the same file."""
    _tiny(path)
    os.link(path, path.parent / "m1_hardlinked.link")


def _refused_before_work(result, crafted: Crafted) -> None:
    """Nothing printed on stdout, no progress, no temporary file; links and the read-only mode intact."""
    assert result.stdout == "", result.stdout
    assert not [p for p in os.listdir(crafted.root) if p.endswith(".tmp")]
    if os.path.lexists(crafted.root / "m1_symlinked.link"):
        assert (crafted.root / "m1_symlinked.link").is_symlink()
    if (crafted.root / "tiny_ro.gguf").exists():
        assert stat.S_IMODE(os.stat(crafted.root / "tiny_ro.gguf").st_mode) == 0o444


#: How an output path can name the model: (model, output, words of the refusal).
MODEL_SPELLINGS = {
    "itself": ("{tiny}", "{tiny}", ()),
    "symlink": ("{m1_symlinked}", "{dir}/m1_symlinked.link", ("through a symlink",)),
    "hardlink": ("{m1_hardlinked}", "{dir}/m1_hardlinked.link", ("hard link",)),
    "chmod444": ("{tiny_ro}", "{tiny_ro}", ()),
}

CLASS_1: list[Case] = [
    Case(f"{writer}-onto-model-{spelling}",
         tuple(a.replace("{M}", model).replace("{OUT}", out) for a in argv), 2,
         ("refused", "input model", "never writes", *words), check=_refused_before_work)
    for writer, argv in WRITERS.items()
    for spelling, (model, out, words) in MODEL_SPELLINGS.items()
]


# == 2. Exports write where the user pointed, with normal permissions ==============

import csv  # noqa: E402 - kept inside this class's section
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


@builder("m2_outlink")
def _m2_outlink(path: Path) -> None:
    """A model, ``real.csv`` holding old text, and ``link.csv``: a symlink to it."""
    _tiny(path)
    (path.parent / "real.csv").write_text("old\n")
    (path.parent / "link.csv").symlink_to("real.csv")


@builder("m2_diagnose")
def _m2_diagnose(path: Path) -> None:
    """A model with ``x.npy`` (4 × K) and ``y.npy`` (4 × N) for blk.0.ffn_up.weight beside it."""
    _tiny(path)
    rng = np.random.default_rng(5)
    np.save(path.parent / "x.npy", rng.standard_normal((4, 256)).astype(np.float32))
    np.save(path.parent / "y.npy", rng.standard_normal((4, 704)).astype(np.float32))


def _no_temporary_files(crafted: Crafted) -> None:
    assert not [p for p in os.listdir(crafted.root) if p.endswith(".tmp")]


def _through_the_link(result, crafted: Crafted) -> None:
    link, real = crafted.root / "link.csv", crafted.root / "real.csv"
    assert link.is_symlink() and os.readlink(link) == "real.csv"
    assert real.read_text().splitlines() == ["row,col,value", "0,0,-0.0218997", "0,1,-0.043451786"]
    _no_temporary_files(crafted)


def _dev_full_is_still_a_device(result, crafted: Crafted) -> None:
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def _compare_report_still_printed(result, crafted: Crafted) -> None:
    _dev_full_is_still_a_device(result, crafted)
    assert "verdict" in result.stdout and "wrote" not in result.stdout


def _dev_null_is_still_a_device(result, crafted: Crafted) -> None:
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert "wrote 1 rows to /dev/null" in result.stdout


def _stdout_csv(header: str, rows: int):
    def check(result, crafted: Crafted) -> None:
        lines = result.stdout.splitlines()
        assert lines[0].startswith(header) and len(lines) == 1 + rows, result.stdout[:300]
        _no_temporary_files(crafted)
        assert not (crafted.root / "-").exists()
    return check


def _stdout_json(key: str):
    def check(result, crafted: Crafted) -> None:
        assert key in json.loads(result.stdout)
        assert not (crafted.root / "-").exists()
    return check


def _nothing_written(result, crafted: Crafted) -> None:
    assert result.stdout == ""
    _no_temporary_files(crafted)


CLASS_2: list[Case] = [
    Case("symlink-output-writes-its-target",
         ("dump", "{m2_outlink}", "output.weight", "--rows", "0", "--cols", "0:2", "--csv", "{dir}/link.csv"), 0,
         check=_through_the_link),
    Case("dev-full-dump-is-one-line", ("dump", "{tiny}", "output.weight", "--csv", "/dev/full"), 1,
         ("--csv '/dev/full'", "no space left on device"), check=_dev_full_is_still_a_device),
    Case("dev-full-compare-keeps-the-report", ("compare", "{tiny}", "blk.0.ffn_up.weight", "--csv", "/dev/full"), 1,
         ("--csv '/dev/full'", "no space left on device"), check=_compare_report_still_printed),
    Case("dev-full-json-file", ("info", "{tiny}", "--json-file", "/dev/full"), 1,
         ("--json-file '/dev/full'", "no space left on device"), check=_dev_full_is_still_a_device),
    Case("dev-null-is-written-directly", ("scan", "{tiny}", "--filter", "blk.0.attn_q", "--csv", "/dev/null"), 0,
         check=_dev_null_is_still_a_device),
    # '-' is stdout for every --csv and --json-file; the export then replaces the text report.
    Case("dash-dump-csv", ("dump", "{tiny}", "output.weight", "--rows", "0:2", "--csv", "-"), 0,
         check=_stdout_csv("row,col,value", 2 * 256)),
    Case("dash-compare-csv", ("compare", "{tiny}", "blk.0.ffn_up.weight", "--rows", "2", "--csv", "-"), 0,
         check=_stdout_csv("tensor,backend,reference", 2 * 704)),
    Case("dash-scan-csv", ("scan", "{tiny}", "--filter", "blk.0.attn_(q|k)", "--csv", "-"), 0,
         check=_stdout_csv("tensor,layer,role", 2)),
    Case("dash-diff-csv", ("diff", "{tiny}", "{tiny_ro}", "--csv", "-"), 0,
         check=_stdout_csv("tensor,status", 39)),
    Case("dash-info-json-file", ("info", "{tiny}", "--json-file", "-"), 0, check=_stdout_json("tensors")),
    Case("dash-explain-json-file", ("explain", "{tiny}", "output.weight", "--json-file", "-"), 0,
         check=_stdout_json("tensor")),
    Case("dash-compare-json-file", ("compare", "{tiny}", "blk.0.ffn_up.weight", "--json-file", "-"), 0,
         check=_stdout_json("metrics")),
    Case("dash-scan-json-file", ("scan", "{tiny}", "--filter", "blk.0.attn_q", "--json-file", "-"), 0,
         check=_stdout_json("rows")),
    Case("dash-diff-json-file", ("diff", "{tiny}", "{tiny_ro}", "--json-file", "-"), 0,
         check=_stdout_json("only_in_a")),
    Case("dash-diagnose-json-file", ("diagnose", "{m2_diagnose}", "blk.0.ffn_up.weight", "--observed",
                                     "{dir}/y.npy", "--input", "{dir}/x.npy", "--json-file", "-"), 0,
         check=_stdout_json("hypotheses")),
    Case("dash-and-json-flag-both-stdout", ("compare", "{tiny}", "blk.0.ffn_up.weight", "--csv", "-", "--json"), 2,
         ("--csv '-'", "--json", "both print to stdout"), check=_nothing_written),
    Case("two-outputs-one-file", ("scan", "{tiny}", "--csv", "{dir}/r.out", "--json-file", "{dir}/r.out"), 2,
         ("--json-file", "--csv", "same file"), check=_nothing_written),
    # Refused before any work (no progress line, nothing on stdout), naming the path the user typed.
    Case("proc-is-unwritable-even-for-root", ("scan", "{tiny}", "--csv", "/proc/x.csv"), 2,
         ("--csv '/proc/x.csv'", "cannot create a file"), check=_nothing_written),
    Case("sys-is-unwritable-even-for-root", ("dump", "{tiny}", "output.weight", "--csv", "/sys/x.csv"), 2,
         ("--csv '/sys/x.csv'", "cannot create a file"), check=_nothing_written),
    Case("json-file-in-proc", ("scan", "{tiny}", "--json-file", "/proc/x.json"), 2,
         ("--json-file '/proc/x.json'", "cannot create a file"), check=_nothing_written),
    Case("directory-names-the-users-path", ("dump", "{tiny}", "output.weight", "--csv", "{dir}"), 2,
         ("is a directory",), check=lambda r, c: ".tmp" not in r.stderr and str(c.root) in r.stderr),
    Case("missing-directory", ("compare", "{tiny}", "blk.0.ffn_up.weight", "--csv", "{dir}/no/such/x.csv"), 2,
         ("x.csv", "does not exist"), check=_nothing_written),
    Case("empty-path", ("scan", "{tiny}", "--csv", ""), 2, ("--csv ''", "empty"), check=_nothing_written),
]


def _umask_run(mask: int, argv, crafted: Crafted) -> subprocess.CompletedProcess:
    """Run the CLI with the process umask set to ``mask`` (the child inherits it)."""
    previous = os.umask(mask)
    try:
        return run_cli(crafted.format(argv), cwd=crafted.root)
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_class2_new_file_follows_the_umask(crafted: Crafted, mask: int, mode: int) -> None:
    result = _umask_run(mask, ("dump", "{tiny}", "output.weight", "--rows", "0", "--csv", "{dir}/new.csv"), crafted)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(crafted.root / "new.csv").st_mode) == mode
    crafted.assert_models_untouched()


def test_class2_existing_file_keeps_its_mode(crafted: Crafted) -> None:
    target = crafted.root / "kept.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    result = _umask_run(0o022, ("scan", "{tiny}", "--filter", "blk.0.attn_q", "--csv", "{dir}/kept.csv"), crafted)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert target.read_text().startswith("tensor,layer,role")
    _no_temporary_files(crafted)


def test_class2_fifo_is_written_through(crafted: Crafted) -> None:
    fifo = crafted.root / "values.fifo"
    os.mkfifo(fifo)
    received: list = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    result = run_cli(crafted.format(("dump", "{tiny}", "output.weight", "--rows", "0:2", "--cols", "0:2",
                                     "--csv", str(fifo))), cwd=crafted.root)
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert received == ["row,col,value\n0,0,-0.0218997\n0,1,-0.043451786\n1,0,0.013611317\n1,1,-0.037657976\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _no_temporary_files(crafted)


@builder("m2_big")
def _m2_big(path: Path) -> None:
    """One F16 weight of 4096 × 2048 values: a dump --csv of it takes seconds."""
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    values = np.random.default_rng(11).standard_normal((2048, 4096)).astype(np.float16)
    GGUFBuilder().add("general.architecture", STRING, "llama").add_tensor(
        "big.weight", (4096, 2048), 1, values.tobytes()).write(path)


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str, limit: float = 120) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, f"the command ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        time.sleep(0.01)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_class2_signal_removes_the_temporary_file(crafted: Crafted, signum: int) -> None:
    argv = crafted.format(("dump", "{m2_big}", "big.weight", "--csv", "{dir}/big.csv"))
    proc = subprocess.Popen([sys.executable, "-m", "layoutscope", *argv], cwd=crafted.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "default"})

    def writing() -> bool:
        return any(p.name.startswith(".big.csv.") and p.stat().st_size > 0
                   for p in crafted.root.iterdir() if p.name.endswith(".tmp"))

    _wait_for(writing, proc, "a temporary file with content")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and "Warning:" not in err
    assert sorted(os.listdir(crafted.root)) == ["m2_big.gguf"]
    crafted.assert_models_untouched()


@builder("m2_many")
def _m2_many(path: Path) -> None:
    """30 F32 weights of 512 × 512: a scan long enough to stop after its first row."""
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    rng = np.random.default_rng(9)
    b = GGUFBuilder().add("general.architecture", STRING, "llama")
    for i in range(30):
        b.add_tensor(f"blk.{i}.attn_q.weight", (512, 512), 0, rng.standard_normal((512, 512)).astype(np.float32).tobytes())
    b.write(path)


def test_class2_sigterm_ends_a_scan_like_ctrl_c(crafted: Crafted) -> None:
    argv = crafted.format(("scan", "{m2_many}", "--jobs", "1", "--csv", "{dir}/p.csv", "--json-file", "{dir}/p.json"))
    proc = subprocess.Popen([sys.executable, "-m", "layoutscope", *argv], cwd=crafted.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    assert first.startswith("[1/30]"), first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted after" in err and "Traceback" not in err
    data = json.loads((crafted.root / "p.json").read_text())
    assert data["interrupted"] and 1 <= data["scanned"] < 30
    with open(crafted.root / "p.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == data["scanned"]
    _no_temporary_files(crafted)
    crafted.assert_models_untouched()


# == 3. Nothing reaches ggml that makes it abort ===================================

CLASS_3: list[Case] = []


# == 4. Byte order and non-finite values give true answers ==========================

CLASS_4: list[Case] = []


# == 5. Every option is validated, with the tool's own words ========================

CLASS_5: list[Case] = []


# == 6. Odd files and terminals ======================================================

CLASS_6: list[Case] = []


# -- closed, full and broken stdout (stream OUT) -----------------------------------------


def _run_with_stdout(argv, crafted: Crafted, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layoutscope", *crafted.format(argv)], cwd=crafted.root,
                          stderr=subprocess.PIPE, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "default"}, **popen)


@pytest.mark.parametrize("argv", [("info", "{tiny}"), ("dump", "{tiny}", "output.weight", "--csv", "-"),
                                  ("info", "{tiny}", "--json")], ids=["info", "dump-csv", "info-json"])
def test_class6_closed_stdout_is_one_line(crafted: Crafted, argv) -> None:
    result = _run_with_stdout(argv, crafted, preexec_fn=lambda: os.close(1))
    line = assert_one_line_error(result, 1, "stdout", "closed")
    assert "internal error" not in line


@pytest.mark.parametrize("argv", [("info", "{tiny}"), ("dump", "{tiny}", "output.weight", "--csv", "-"),
                                  ("compare", "{tiny}", "blk.0.ffn_up.weight", "--json")],
                         ids=["info", "dump-csv", "compare-json"])
def test_class6_full_stdout_is_one_line(crafted: Crafted, argv) -> None:
    with open("/dev/full", "w") as full:
        result = _run_with_stdout(argv, crafted, stdout=full)
    line = assert_one_line_error(result, 1, "stdout", "no space left on device")
    assert "internal error" not in line and "Exception ignored" not in result.stderr


def test_class6_bare_file_with_closed_stdout_is_not_an_internal_error(crafted: Crafted) -> None:
    """`layoutscope FILE >&-` falls back to info (with its note), which then says stdout is closed."""
    result = _run_with_stdout(("{tiny}",), crafted, preexec_fn=lambda: os.close(1))
    assert_clean(result)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("layoutscope: error: stdout: cannot print the output, stdout is closed")


def test_class6_closed_pipe_is_still_success(crafted: Crafted) -> None:
    argv = crafted.format(("dump", "{tiny}", "token_embd.weight", "--csv", "-"))
    proc = subprocess.Popen([sys.executable, "-m", "layoutscope", *argv], cwd=crafted.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"row,col,value\n"
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""


# == 8. Smaller, from the same pass ==================================================

CLASS_8: list[Case] = []


# -- --json is a flag in every command, --json-file PATH|- saves it (stream OUT) -------------


def _json_on_stdout(key: str):
    def check(result, crafted: Crafted) -> None:
        assert key in json.loads(result.stdout)
    return check


def _json_file_and_text(key: str):
    def check(result, crafted: Crafted) -> None:
        assert key in json.loads((crafted.root / "r.json").read_text())
        assert result.stdout.strip() and not result.stdout.lstrip().startswith("{")  # the text report as well
    return check


def _deprecated(spelling: str, instead: str, saved: Optional[str]):
    def check(result, crafted: Crafted) -> None:
        notes = [line for line in result.stderr.splitlines() if "deprecated" in line]
        assert notes == [f"layoutscope: note: `{spelling}` is deprecated: use `{instead}`"], result.stderr
        data = json.loads((crafted.root / saved).read_text() if saved else result.stdout)
        assert "rows" in data
    return check


#: (command, argv after the command, a key of its JSON report)
JSON_COMMANDS = {
    "info": (("info", "{tiny}"), "tensors"),
    "explain": (("explain", "{tiny}", "output.weight"), "tensor"),
    "compare": (("compare", "{tiny}", "blk.0.ffn_up.weight"), "metrics"),
    "scan": (("scan", "{tiny}", "--filter", "blk.0.attn_q"), "rows"),
    "diagnose": (("diagnose", "{m2_diagnose}", "blk.0.ffn_up.weight", "--observed", "{dir}/y.npy",
                  "--input", "{dir}/x.npy"), "hypotheses"),
    "diff": (("diff", "{tiny}", "{tiny_ro}"), "only_in_a"),
}

CLASS_8 += [
    *(Case(f"json-flag-{name}", (*argv, "--json"), 0, check=_json_on_stdout(key))
      for name, (argv, key) in JSON_COMMANDS.items()),
    *(Case(f"json-file-{name}", (*argv, "--json-file", "{dir}/r.json"), 0, check=_json_file_and_text(key))
      for name, (argv, key) in JSON_COMMANDS.items()),
    # The old spelling of scan keeps working, with one note (paths relative to the case's directory).
    Case("json-path-deprecated", ("scan", "{tiny}", "--filter", "blk.0.attn_q", "--json", "old.json"), 0,
         check=_deprecated("--json old.json", "--json-file old.json", "old.json")),
    Case("json-equals-path-deprecated", ("scan", "{tiny}", "--filter", "blk.0.attn_q", "--json=eq.json"), 0,
         check=_deprecated("--json eq.json", "--json-file eq.json", "eq.json")),
    Case("json-dash-deprecated", ("scan", "{tiny}", "--filter", "blk.0.attn_q", "--json", "-"), 0,
         check=_deprecated("--json -", "--json", None)),
]


def test_class8_doctor_json_flag_and_file(crafted: Crafted) -> None:
    """doctor exits 1 on a machine without an NPU, so it is checked outside the table."""
    flag = run_cli(["doctor", "--json"], cwd=crafted.root)
    assert_clean(flag)
    assert flag.returncode in (0, 1) and "checks" in json.loads(flag.stdout)
    saved = run_cli(["doctor", "--json-file", str(crafted.root / "d.json"), "--json"], cwd=crafted.root)
    assert saved.returncode == flag.returncode and json.loads(saved.stdout) == json.loads((crafted.root / "d.json").read_text())


# == the table runner ===================================================================

ALL_CASES = {"1": CLASS_1, "2": CLASS_2, "3": CLASS_3, "4": CLASS_4, "5": CLASS_5, "6": CLASS_6, "8": CLASS_8}


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"class{k}-{c.id}") for k, cases in ALL_CASES.items() for c in cases])
def test_cli_case(case: Case, crafted: Crafted) -> None:
    run_case(case, crafted)


def test_every_case_id_is_unique() -> None:
    ids = [c.id for cases in ALL_CASES.values() for c in cases]
    assert len(ids) == len(set(ids))
