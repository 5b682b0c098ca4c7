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
        """The path of crafted file ``name`` (built now if it is not yet).

        A name with a suffix (``x.npy``) is the file's whole name; any other is a model, ``name.gguf``.
        """
        target = self.root / (name if "." in name else f"{name}.gguf")
        if not target.exists() and not target.is_symlink():
            BUILDERS[name](target)
            if target.is_file() and target.suffix == ".gguf":
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
            target = self.path(name)
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
    "diagnose-json-file": ("diagnose", "{M}", "blk.0.ffn_up.weight", "--observed", "{y.npy}",
                           "--input", "{x.npy}", "--json-file", "{OUT}"),
}


@builder("x.npy")
def _x_npy(path: Path) -> None:
    """Activations for blk.0.ffn_up.weight of the tiny sample: float32 (4, 256)."""
    np.save(path, np.random.default_rng(1).standard_normal((4, 256)).astype(np.float32))


@builder("y.npy")
def _y_npy(path: Path) -> None:
    """An observed output for blk.0.ffn_up.weight of the tiny sample: float32 (4, 704)."""
    np.save(path, np.random.default_rng(2).standard_normal((4, 704)).astype(np.float32))


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

def _llama_builder(byteorder: str = "<"):
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    return GGUFBuilder(byteorder=byteorder).add("general.architecture", STRING, "llama")


def _q8_0(rows: np.ndarray) -> bytes:
    from layoutscope.backend.libggml import load

    return load().quantize(8, rows).tobytes()


#: The tensors of ``zero_dims``: (name, ne, type id). A zero in every place ggml could meet one.
ZERO_DIM_TENSORS = (
    ("blk.0.ffn_up.weight", (64, 0), 0),        # a weight with zero rows (N = 0)
    ("blk.0.ffn_gate.weight", (0, 32), 0),      # zero columns (K = 0)
    ("blk.0.ffn_down.weight", (64, 0), 8),      # quantized, N = 0
    ("blk.0.attn_q.weight", (0, 32), 8),        # quantized, K = 0
    ("blk.0.attn_k.weight", (0, 0), 1),         # F16, both
    ("blk.0.attn_norm.weight", (0,), 0),        # 1-D
    ("blk.0.ffn_gate_exps.weight", (64, 0, 4), 0),  # 3-D
)


@builder("zero_dims")
def _zero_dims(path: Path) -> None:
    b = _llama_builder()
    for name, ne, type_id in ZERO_DIM_TENSORS:
        b.add_tensor(name, ne, type_id, b"")
    w = np.random.default_rng(3).standard_normal((32, 64)).astype(np.float32)
    b.add_tensor("blk.1.ffn_up.weight", (64, 32), 0, w.tobytes())  # one weight with data: the scan still runs
    b.add_tensor("blk.1.ffn_down.weight", (64, 32), 26, np.ones((32, 64), np.int32).tobytes())  # I32: no matmul
    b.write(path)
    np.save(path.parent / "zero_dims.x0.npy", np.zeros((0, 64), np.float32))


def _zero_dims_listed(result, crafted) -> None:
    warnings = result.stdout.split("warnings (")[1]
    for name, ne, _ in ZERO_DIM_TENSORS:
        assert f"tensor '{name}': ne = [{', '.join(map(str, ne))}] has a zero dimension" in warnings, name


def _zero_dims_skipped(result, crafted) -> None:
    import json

    report = json.loads((crafted.root / "scan.json").read_text())
    assert report["scanned"] == 1 and [r["tensor"] for r in report["rows"]] == ["blk.1.ffn_up.weight"]
    reasons = {s["tensor"]: s["reason"] for s in report["skipped"]}
    for name, ne, _ in ZERO_DIM_TENSORS:
        assert reasons[name] == f"ne = [{', '.join(map(str, ne))}] has a zero dimension, so it holds no elements"
    assert "has no CPU matmul" in reasons["blk.1.ffn_down.weight"]
    listed = result.stdout.split("- ne = [64, 0] has a zero dimension, so it holds no elements (", 1)
    assert len(listed) == 2 and "blk.0.ffn_up.weight" in listed[1].split("\n")[1], result.stdout


def _refusal(command: str, tensor: str, ne: str, *extra: str) -> Case:
    return Case(f"{command}-{tensor}-refused", (command, "{zero_dims}", tensor, *extra), 2,
                (f"cannot {command} tensor '{tensor}'", "info record at byte", f"ne = {ne} has a zero dimension",
                 "holds no elements", "choose another tensor"))


CLASS_3: list[Case] = [
    Case("info-lists-zero-dim-tensors-as-warnings", ("info", "{zero_dims}"), 0, check=_zero_dims_listed),
    Case("scan-jobs-1-skips-zero-dim-tensors", ("scan", "{zero_dims}", "--jobs", "1", "--backend", "npu-sim",
                                                 "--json", "{dir}/scan.json"), 0, check=_zero_dims_skipped,
         timeout=60),
    Case("scan-jobs-2-skips-zero-dim-tensors", ("scan", "{zero_dims}", "--jobs", "2", "--backend", "npu-sim",
                                                 "--json", "{dir}/scan.json"), 0, check=_zero_dims_skipped,
         timeout=60),
    Case("scan-cpu-numpy-skips-zero-dim-tensors", ("scan", "{zero_dims}", "--reference", "cpu-numpy", "--jobs", "2",
                                                    "--backend", "npu-sim", "--json", "{dir}/scan.json"), 0,
         check=_zero_dims_skipped, timeout=60),
    _refusal("compare", "blk.0.ffn_up.weight", "[64, 0]", "--backend", "npu-sim"),
    _refusal("compare", "blk.0.ffn_gate.weight", "[0, 32]", "--backend", "npu-sim"),
    _refusal("compare", "blk.0.ffn_down.weight", "[64, 0]", "--backend", "npu-sim", "--reference", "cpu-numpy"),
    _refusal("compare", "blk.0.attn_q.weight", "[0, 32]", "--backend", "npu-sim", "--mm", "fp16"),
    _refusal("compare", "blk.0.attn_k.weight", "[0, 0]", "--backend", "npu-sim"),
    _refusal("compare", "blk.0.attn_norm.weight", "[0]", "--backend", "npu-sim"),
    _refusal("compare", "blk.0.ffn_gate_exps.weight", "[64, 0, 4]", "--backend", "npu-sim"),
    _refusal("explain", "blk.0.ffn_up.weight", "[64, 0]"),
    _refusal("explain", "blk.0.attn_q.weight", "[0, 32]", "--at", "0,0"),
    _refusal("dump", "blk.0.ffn_gate.weight", "[0, 32]"),
    _refusal("dump", "blk.0.ffn_down.weight", "[64, 0]", "--csv", "-"),
    _refusal("diagnose", "blk.0.ffn_up.weight", "[64, 0]", "--observed", "{y.npy}", "--input", "{x.npy}"),
    _refusal("diagnose", "blk.0.attn_q.weight", "[0, 32]", "--observed", "{y.npy}", "--input", "{x.npy}"),
    Case("compare-a-type-without-a-cpu-matmul", ("compare", "{zero_dims}", "blk.1.ffn_down.weight",
                                                  "--backend", "npu-sim"), 2, ("I32 has no CPU matmul in ggml",)),
    # Sizes that reach ggml from options and inputs: zero or too many threads, zero activation rows.
    Case("compare-zero-threads", ("compare", "{zero_dims}", "blk.1.ffn_up.weight", "--backend", "npu-sim",
                                  "--threads", "0"), 2, ("threads",)),
    Case("compare-more-threads-than-ggml-has", ("compare", "{zero_dims}", "blk.1.ffn_up.weight", "--backend",
                                                "npu-sim", "--threads", "100000"), 2, ("threads",)),
    Case("compare-zero-input-rows", ("compare", "{zero_dims}", "blk.1.ffn_up.weight", "--backend", "npu-sim",
                                     "--input", "{dir}/zero_dims.x0.npy"), 2),
    Case("scan-zero-random-rows", ("scan", "{zero_dims}", "--backend", "npu-sim", "--rows", "0"), 2, ("rows",)),
]


# == 4. Byte order and non-finite values give true answers ==========================

#: W (N = 64, K = 128) shared by the byte-order twins and the non-finite files.
W4 = (np.random.default_rng(4).standard_normal((64, 128)) * 0.1).astype(np.float32)


def _plain_twin(path: Path, byteorder: str) -> None:
    b = _llama_builder(byteorder)
    b.add_tensor("blk.0.ffn_up.weight", (128, 64), 0, W4.astype(byteorder + "f4").tobytes())
    b.add_tensor("blk.0.ffn_down.weight", (128, 64), 1, W4.astype(byteorder + "f2").tobytes())
    b.add_tensor("blk.0.attn_q.weight", (128, 64), 30, (W4.view(np.uint32) >> 16).astype(byteorder + "u2").tobytes())
    b.add_tensor("blk.0.attn_k.weight", (128, 64), 8, _q8_0(W4))  # quantized blocks: stored little-endian in both
    b.write(path)


@builder("be_plain")
def _be_plain(path: Path) -> None:
    _plain_twin(path, ">")


@builder("le_plain")
def _le_plain(path: Path) -> None:
    _plain_twin(path, "<")


def _same_y_as_the_little_endian_twin(tensor: str):
    def check(result, crafted) -> None:
        assert "verdict OK" in result.stdout, result.stdout
        twin = run_cli(crafted.format(["compare", "{le_plain}", tensor, "--backend", "npu-sim",
                                       "--csv", "{dir}/le.csv"]), cwd=crafted.root)
        assert twin.returncode == 0, twin.stderr
        be, le = (crafted.root / "be.csv").read_text(), (crafted.root / "le.csv").read_text()
        assert be == le and be.count("\n") == 8 * 64 + 1  # every Y value, both sides, bit for bit
    return check


def _assert(condition) -> None:
    assert condition


def _strict_json(text: str):
    """``text`` parsed as JSON that holds no bare NaN or Infinity (non-finite numbers are strings)."""
    import json

    def refuse(constant):
        raise AssertionError(f"bare {constant} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _finite_number(value) -> float:
    assert isinstance(value, float) and np.isfinite(value), value
    return value


def _says(*texts: str):
    """A check: stdout holds every one of ``texts``."""
    def check(result, crafted) -> None:
        for text in texts:
            assert text in result.stdout, (text, result.stdout)
    return check


#: The Q8_0 weight of ``nan_weights``: a block with d = NaN (32 NaN) and one with d = inf (±inf, NaN where q = 0).
Q8_0_NONFINITE = "64 of 8192 values are not finite (32 NaN, 13 +inf, 19 -inf)"


@builder("nan_weights")
def _nan_weights(path: Path) -> None:
    from layoutscope.samples.ggufwrite import FLOAT32

    w = W4.copy()
    w[3, 5], w[7, 1] = np.nan, np.inf
    q = np.frombuffer(_q8_0(W4), np.uint8).reshape(64, -1).copy()
    q[2, 0:2] = np.frombuffer(np.float16(np.nan).tobytes(), np.uint8)  # block 0 of row 2: d = NaN
    q[5, 34:36] = np.frombuffer(np.float16(np.inf).tobytes(), np.uint8)  # block 1 of row 5: d = inf
    b = _llama_builder().add("test.not_a_number", FLOAT32, float("nan")).add("llama.context_length", FLOAT32,
                                                                              float("inf"))
    b.add_tensor("blk.0.ffn_up.weight", (128, 64), 0, w.tobytes())
    b.add_tensor("blk.0.ffn_down.weight", (128, 64), 8, q.tobytes())
    b.add_tensor("blk.0.attn_q.weight", (128, 64), 0, W4.tobytes())
    b.write(path)
    _observed_files(path.parent)


def _observed_files(directory: Path) -> None:
    """Inputs and observed outputs for the non-finite cases, beside the model."""
    import layoutscope
    from layoutscope.analyses.diagnose import simulate

    x = np.random.default_rng(5).standard_normal((4, 128)).astype(np.float32)
    np.save(directory / "x.npy", x)
    bad = x.copy()
    bad[1, 7] = np.nan
    np.save(directory / "x_nan.npy", bad)
    bad[2, 9] = np.inf
    np.save(directory / "x_nan_inf.npy", bad)
    np.save(directory / "y_zeros.npy", np.zeros((4, 64), np.float32))
    with layoutscope.open(directory / "nan_weights.gguf") as m:
        y = simulate(m.tensor("blk.0.attn_q.weight"), x, "b-transposed").copy()
    y[1, 3], y[2, 60] = np.nan, -np.inf
    np.save(directory / "y_few_nan.npy", y)


@builder("nan_twin")
def _nan_twin(path: Path) -> None:
    b = _llama_builder()
    b.add_tensor("blk.0.ffn_up.weight", (128, 64), 0, W4.tobytes())
    b.add_tensor("blk.0.ffn_down.weight", (128, 64), 8, _q8_0(W4))
    b.add_tensor("blk.0.attn_q.weight", (128, 64), 0, W4.tobytes())
    b.write(path)


def _nan_f32_json(result, crafted) -> None:
    data = _strict_json(result.stdout)
    m, w = data["metrics"], data["weight_requantization_error"]
    assert m["verdict"] == "broken" and m["mismatched"] == 16 and m["measured"] == 8 * 64 - 16
    for key in ("nmse", "snr_db", "cosine", "max_abs", "mean_abs"):
        _finite_number(m[key])
    assert _finite_number(m["nmse"]) < 1e-3  # the finite part is as good as the scheme allows
    assert w["verdict"] == "broken" and w["mismatched"] == 2 and _finite_number(w["max_abs"]) < 0.01
    assert ("W blk.0.ffn_up.weight dequantized: 2 of 8192 values are not finite (1 NaN, 1 +inf), "
            "the first at n 3, k 5") in data["findings"]
    assert any(f.startswith("cpu Y: 16 of 512 values are not finite") for f in data["findings"])
    assert m["nonfinite"][0]["array"] == "cpu Y" and m["nonfinite"][0]["first"] == [0, 3]
    assert m["worst"][0]["reference"] == "nan"


def _nan_scan_json(result, crafted) -> None:
    data = _strict_json((crafted.root / "scan.json").read_text())
    rows = {r["tensor"]: r for r in data["rows"]}
    assert [r["tensor"] for r in data["rows"]][2] == "blk.0.attn_q.weight" and rows["blk.0.attn_q.weight"]["verdict"] == "ok"
    for name in ("blk.0.ffn_up.weight", "blk.0.ffn_down.weight"):
        row = rows[name]
        assert row["verdict"] == "broken" and row["mismatched"] > 0, row
        for key in ("nmse", "snr_db", "cosine", "max_abs", "mean_abs", "weight_nmse", "weight_max_abs"):
            _finite_number(row[key])
        assert any(f.startswith("W dequantized: ") for f in row["findings"])
    assert rows["blk.0.ffn_down.weight"]["findings"][0] == f"W dequantized: {Q8_0_NONFINITE}, the first at n 2, k 0"
    assert data["layers"][0]["max_nmse"] == "inf" and data["layers"][0]["worst_verdict"] == "broken"
    assert "FINDING: blk.0.ffn_up.weight (per-channel): W dequantized: 2 of 8192" in result.stdout


def _diff_json(result, crafted) -> None:
    data = _strict_json(result.stdout)
    rows = {r["tensor"]: r for r in data["tensors"]}
    assert {r["tensor"] for r in data["tensors"][:2]} == {"blk.0.ffn_down.weight", "blk.0.ffn_up.weight"}
    up = rows["blk.0.ffn_up.weight"]
    assert up["mismatched"] == 2 and up["nmse"] == 0.0 and up["max_abs"] == 0.0
    assert up["note"].startswith("B: 2 of 8192 values are not finite (1 NaN, 1 +inf), the first at row 3, col 5")
    assert rows["blk.0.attn_q.weight"]["status"] == "identical"


def _info_json(result, crafted) -> None:
    data = _strict_json(result.stdout)
    assert data["metadata"]["test.not_a_number"]["value"] == "nan"
    assert data["summary"]["context"] == "inf"  # a count stored as a float: it must not leak as bare Infinity


def _explain_json(result, crafted) -> None:
    assert "nan" in result.stdout
    _strict_json(result.stdout)


NAN_COMPARE = ("compare", "{nan_weights}", "--backend", "npu-sim")

CLASS_4: list[Case] = [
    # Big-endian files: the reference gets the values layoutscope decodes.
    Case("big-endian-f32-matches-its-twin", ("compare", "{be_plain}", "blk.0.ffn_up.weight", "--backend", "npu-sim",
                                             "--csv", "{dir}/be.csv"), 0,
         check=_same_y_as_the_little_endian_twin("blk.0.ffn_up.weight")),
    Case("big-endian-f16-matches-its-twin", ("compare", "{be_plain}", "blk.0.ffn_down.weight", "--backend",
                                             "npu-sim", "--csv", "{dir}/be.csv"), 0,
         check=_same_y_as_the_little_endian_twin("blk.0.ffn_down.weight")),
    Case("big-endian-bf16-matches-its-twin", ("compare", "{be_plain}", "blk.0.attn_q.weight", "--backend",
                                              "npu-sim", "--csv", "{dir}/be.csv"), 0,
         check=_same_y_as_the_little_endian_twin("blk.0.attn_q.weight")),
    Case("big-endian-q8_0-matches-its-twin", ("compare", "{be_plain}", "blk.0.attn_k.weight", "--backend",
                                              "npu-sim", "--csv", "{dir}/be.csv"), 0,
         check=_same_y_as_the_little_endian_twin("blk.0.attn_k.weight")),
    Case("big-endian-notes-say-how", ("compare", "{be_plain}", "blk.0.attn_k.weight", "--backend", "npu-sim"), 0,
         check=_says("Q8_0 blocks are read little-endian by ggml and by layoutscope alike")),
    Case("big-endian-swap-is-noted", ("compare", "{be_plain}", "blk.0.ffn_up.weight", "--backend", "npu-sim"), 0,
         check=_says("the F32 values were byte-swapped to the host's order for ggml")),
    Case("big-endian-scan-is-all-ok", ("scan", "{be_plain}", "--backend", "npu-sim", "--fail-on", "degraded"), 0),
    # Non-finite weights: findings, consistent metrics, no warnings.
    Case("nan-f32-weight-is-a-finding", (*NAN_COMPARE, "blk.0.ffn_up.weight"), 0,
         check=_says("FINDING: W blk.0.ffn_up.weight dequantized: 2 of 8192 values are not finite (1 NaN, 1 +inf), "
                     "the first at n 3, k 5", "verdict BROKEN")),
    Case("nan-f32-weight-json-is-consistent", (*NAN_COMPARE, "blk.0.ffn_up.weight", "--json"), 0, check=_nan_f32_json),
    Case("nan-q8_0-scale-is-a-finding", (*NAN_COMPARE, "blk.0.ffn_down.weight"), 0,
         check=_says(f"FINDING: W blk.0.ffn_down.weight dequantized: {Q8_0_NONFINITE}, the first at n 2, k 0")),
    Case("nan-weight-fails-on-broken", (*NAN_COMPARE, "blk.0.ffn_up.weight", "--fail-on", "broken"), 3),
    Case("nan-weight-fp16-pipeline", (*NAN_COMPARE, "blk.0.ffn_down.weight", "--mm", "fp16", "--reference",
                                      "cpu-numpy"), 0,
         check=_says("requantization to fp16: 64 non-finite input value(s) stay NaN")),
    Case("nan-input-npy-is-a-finding", (*NAN_COMPARE, "blk.0.attn_q.weight", "--input", "x_nan.npy"), 0,
         check=_says("FINDING: X (x_nan.npy, 4×128): 1 of 512 values are not finite (1 NaN), the first at m 1, k 7",
                     "cpu Y: 64 of 256 values are not finite")),
    Case("nan-and-inf-on-both-sides-in-the-csv", (*NAN_COMPARE, "blk.0.ffn_up.weight", "--mm", "fp16", "--input",
                                                  "x_nan_inf.npy", "--csv", "{dir}/nan.csv"), 0,
         check=_says("with the same non-finite value on both sides")),
    Case("act-quant-range-beyond-float32", (*NAN_COMPARE, "blk.0.attn_q.weight", "--act-quant", "fixed:1e39"), 2,
         ("1e39",)),
    Case("nan-scan-jobs-1", ("scan", "{nan_weights}", "--backend", "npu-sim", "--jobs", "1", "--json",
                             "{dir}/scan.json"), 0, check=_nan_scan_json, timeout=60),
    Case("nan-scan-jobs-2", ("scan", "{nan_weights}", "--backend", "npu-sim", "--jobs", "2", "--json",
                             "{dir}/scan.json"), 0, check=_nan_scan_json, timeout=60),
    Case("nan-scan-pipeline-and-nan-input", ("scan", "{nan_weights}", "--backend", "npu-sim", "--mm", "int8-fp32",
                                             "--weight-quant", "per-group:32", "--reference", "cpu-numpy",
                                             "--input", "x_nan.npy"), 0,
         check=_says("FINDING: X for K=128 (x_nan.npy, 4×128): 1 of 512 values are not finite")),
    Case("nan-diff-is-measured-on-finite-values", ("diff", "{nan_twin}", "{nan_weights}", "--json"), 0,
         check=_diff_json),
    Case("nan-metadata-in-json", ("info", "{nan_weights}", "--json", "--metadata"), 0, check=_info_json),
    Case("nan-element-explained-in-json", ("explain", "{nan_weights}", "blk.0.ffn_up.weight", "--at", "3,5",
                                           "--json"), 0, check=_explain_json),
    Case("nan-weight-dump", ("dump", "{nan_weights}", "blk.0.ffn_down.weight", "--rows", "2:3"), 0,
         check=_says("nan")),
    # diagnose: an all-zero output is its own bug, a few NaNs leave the ranking on the finite part.
    Case("diagnose-all-zero-output-is-c-zeros", ("diagnose", "{nan_weights}", "blk.0.attn_q.weight", "--observed",
                                                 "y_zeros.npy", "--input", "x.npy"), 0,
         check=_says("best match: c-zeros (NMSE 0): C came back all zeros", "rknn-toolkit2#550")),
    Case("diagnose-few-nans-ranked-on-the-finite-part", ("diagnose", "{nan_weights}", "blk.0.attn_q.weight",
                                                         "--observed", "y_few_nan.npy", "--input", "x.npy"), 0,
         check=_says("best match: b-transposed", "the observed output: 2 of 256 values are not finite (1 NaN, "
                     "1 -inf), the first at m 1, n 3: the hypotheses are ranked on the 254 finite values")),
    Case("diagnose-few-nans-json", ("diagnose", "{nan_weights}", "blk.0.attn_q.weight", "--observed",
                                    "y_few_nan.npy", "--input", "x.npy", "--json"), 0,
         check=lambda r, c: _assert(_strict_json(r.stdout)["observed_nonfinite"]["count"] == 2)),
    Case("diagnose-a-nan-weight", ("diagnose", "{nan_weights}", "blk.0.ffn_down.weight", "--observed",
                                   "y_few_nan.npy", "--input", "x_nan.npy", "--json"), 0,
         check=lambda r, c: _assert(_strict_json(r.stdout)["hypotheses"])),
]


# == 5. Every option is validated, with the tool's own words ========================


@builder("zero_rows_npy")
def _zero_rows_npy(path: Path) -> None:
    # A 0×K array in .npy format (the name ends in .gguf only because crafted files do).
    with open(path, "wb") as f:
        np.save(f, np.zeros((0, 256), np.float32))


@builder("long_a_name")
def _long_a_name(path: Path) -> None:
    # A tensor name on which (a|aa)+$ backtracks exponentially.
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    b = GGUFBuilder().add("general.architecture", STRING, "llama")
    b.add_tensor("a" * 60 + "!", (64, 32), 0, bytes(64 * 32 * 4))
    b.write(path)


def short_error(limit: int = 400) -> Callable:
    """A check: the error line stays short however long the input it echoes."""
    def check(result, crafted):
        assert len(result.stderr) < limit, len(result.stderr)
    return check


def stdout_has(*words: str) -> Callable:
    """A check: stdout holds every word."""
    def check(result, crafted):
        for w in words:
            assert w in result.stdout, (w, result.stdout[:2000])
    return check


def _one_warning_line(result, crafted) -> None:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("layoutscope: warning: --rows 100: random X of 100×256"), lines
    assert "over half of the 2.0 MiB available" in lines[0]


def _input_named_once(result, crafted) -> None:
    assert result.stderr.count("--input") == 1, result.stderr


def _not_a_seed_message(result, crafted) -> None:
    assert "must be a whole number" not in result.stderr


_CMP = ("compare", "{tiny}", "output.weight")
_SCAN = ("scan", "{tiny}")
_HELP = "(see layoutscope compare --help)"

CLASS_5: list[Case] = [
    # each option's bad value: exit 2, one line naming the option once, with the value and what works
    Case("platform", (*_CMP, "--platform", "rk9"), 2, ("--platform 'rk9': choose from rk3588", _HELP)),
    Case("mm", (*_CMP, "--mm", "int9"), 2, ("--mm 'int9': choose from int8, int8-fp32",)),
    Case("weight-quant-huge-group", (*_CMP, "--mm", "int8-fp32", "--weight-quant", "per-group:99999999999999999999"),
         2, ("--weight-quant 'per-group:99999999999999999999': out of range", "per-group:32")),
    Case("weight-quant-superscript-digit", (*_CMP, "--weight-quant", "per-group:³"), 2,
         ("--weight-quant 'per-group:³': expected a whole number",)),
    Case("weight-quant-scan-list", (*_SCAN, "--weight-quant", "per-tensor,,per-channel"), 2,
         ("--weight-quant 'per-tensor,,per-channel'", "separated by commas", "(see layoutscope scan --help)")),
    Case("act-quant-clamp-too-large", (*_CMP, "--act-quant", "fixed:1e39"), 2,
         ("--act-quant 'fixed:1e39'", "from 1e-30 to 1e+30")),
    Case("act-quant-clamp-too-small", (*_CMP, "--act-quant", "fixed:1e-45"), 2,
         ("--act-quant 'fixed:1e-45'", "from 1e-30 to 1e+30")),
    Case("input-seed-5000-digits", (*_CMP, "--input", "random:" + "9" * 5000), 2,
         ("--input 'random:999", "(5007 characters)", "expected a whole number"), check=short_error()),
    Case("input-seed-negative", (*_CMP, "--input", "random:-5"), 2,
         ("--input 'random:-5': out of range: use a whole number from 0",), check=_not_a_seed_message),
    Case("input-tokens-empty-id", (*_CMP, "--input", "tokens:1,,2"), 2,
         ("--input 'tokens:1,,2': give token ids separated by single commas",)),
    Case("input-token-outside-vocabulary", (*_CMP, "--input", "tokens:1,5000"), 2,
         ("--input 'tokens:1,5000': token id 5000 is outside the vocabulary (ids 0..999)",), check=_input_named_once),
    Case("input-npy-without-rows", (*_CMP, "--input", "{zero_rows_npy}"), 2,
         ("--input '", "shape is (0, 256): it has no rows"), check=_input_named_once),
    Case("input-unknown-form", (*_CMP, "--input", "rand"), 2, ("--input 'rand': not an input form",)),
    Case("rows-zero", (*_CMP, "--rows", "0"), 2, ("--rows '0': out of range: use a whole number from 1",)),
    Case("rows-negative", (*_CMP, "--rows", "-5"), 2, ("--rows '-5': out of range",)),
    Case("npu-core-out-of-range", (*_CMP, "--npu-core", "5"), 2, ("--npu-core '5'", "from 0 to 2", _HELP)),
    Case("threads-zero", (*_CMP, "--threads", "0"), 2, ("--threads '0': out of range",)),
    Case("threads-negative", (*_CMP, "--threads", "-1"), 2, ("--threads '-1': out of range",)),
    Case("jobs-zero", (*_SCAN, "--jobs", "0"), 2, ("--jobs '0': out of range",)),
    Case("scan-top-negative", (*_SCAN, "--top", "-5"), 2, ("--top '-5': out of range: use a whole number from 0",)),
    Case("diff-top-negative", ("diff", "{tiny}", "{tiny}", "--top", "-1"), 2, ("--top '-1'",)),
    Case("reference", (*_CMP, "--reference", "gpu"), 2, ("--reference 'gpu': choose from cpu, cpu-numpy",)),
    Case("backend", (*_CMP, "--backend", "gpu"), 2, ("--backend 'gpu': choose from auto, npu-sim, npu",)),
    Case("fail-on", (*_CMP, "--fail-on", "often"), 2, ("--fail-on 'often': choose from degraded, broken",)),
    Case("doctor-platform", ("doctor", "--platform", "rk9"), 2,
         ("--platform 'rk9'", "(see layoutscope doctor --help)")),
    Case("doctor-npu-core", ("doctor", "--npu-core", "3"), 2, ("--npu-core '3'",)),
    Case("at-syntax", ("explain", "{tiny}", "output.weight", "--at", "x"), 2, ("--at 'x': expected ROW,COL",)),
    Case("at-outside", ("explain", "{tiny}", "output.weight", "--at", "1000,0"), 2,
         ("row 1000 is outside output.weight (rows 0..999)",)),
    Case("at-negative-counts-from-the-end", ("explain", "{tiny}", "output.weight", "--at", "-1,-1"), 0,
         check=stdout_has("element (row 999, col 255)")),
    Case("cols-negative-is-a-value", ("dump", "{tiny}", "output.weight", "--cols", "-1:"), 0,
         check=stdout_has("output.weight rows 0:8 cols 255:256")),
    Case("rows-and-cols-from-the-end", ("dump", "{tiny}", "output.weight", "--rows", "-2:", "--cols", "-3:"), 0,
         check=stdout_has("output.weight rows 998:1000 cols 253:256")),
    Case("dump-range-empty", ("dump", "{tiny}", "output.weight", "--rows", "5:2"), 2,
         ("--rows '5:2': selects no rows",)),
    Case("dump-range-syntax", ("dump", "{tiny}", "output.weight", "--cols", "1:2:3"), 2,
         ("--cols '1:2:3': expected A:B, A:, :B, : or A",)),
    Case("threads-environment", ("info", "{tiny}"), 2, ("LAYOUTSCOPE_THREADS 'abc': expected a whole number",),
         env={"LAYOUTSCOPE_THREADS": "abc"}),
    Case("memory-limit-environment", ("info", "{tiny}"), 2, ("LAYOUTSCOPE_MEMORY_LIMIT '12Q'",),
         env={"LAYOUTSCOPE_MEMORY_LIMIT": "12Q"}),
    # name filters: compiled at parse time with bounds, matched with a time limit
    Case("filter-invalid", (*_SCAN, "--filter", "(a"), 2, ("--filter '(a': not a valid regular expression",)),
    Case("filter-5000-levels", (*_SCAN, "--filter", "(" * 5000 + "a" + ")" * 5000), 2,
         ("--filter '((((", "(10001 characters)", "longer than 1000 characters"), check=short_error()),
    Case("filter-400-levels", (*_SCAN, "--filter", "(" * 400 + "a" + ")" * 400), 2, ("nested deeper than 50 levels",)),
    Case("filter-catastrophic", ("scan", "{long_a_name}", "--filter", "(a|aa)+$"), 2,
         ("--filter '(a|aa)+$': matching took over", "catastrophic backtracking"), timeout=60),
    Case("filter-nested-star-finishes", ("diff", "{long_a_name}", "{long_a_name}", "--filter", "(a*)*b"), 2,
         ("matches no tensor",), timeout=60),
    # memory known up front, against an injected limit
    # The memory check guards random X (real rows are R × K, bounded by --rows): asked for explicitly.
    Case("memory-refused", (*_CMP, "--rows", "100", "--input", "random"), 1,
         ("--rows 100: random X of 100×256 and its outputs of 100×1000", "more than the 1.0 MiB available",
          "use fewer --rows"), env={"LAYOUTSCOPE_MEMORY_LIMIT": "1M"}),
    Case("memory-warned", (*_CMP, "--rows", "100", "--input", "random"), 0, check=_one_warning_line, env={"LAYOUTSCOPE_MEMORY_LIMIT": "2M"}),
    Case("memory-dump-grid-refused", ("dump", "{tiny}", "token_embd.weight", "--rows", ":", "--cols", ":"), 1,
         ("a grid of 1000×256 values of token_embd.weight", "more than the 1.0 MiB available", "--csv PATH"),
         env={"LAYOUTSCOPE_MEMORY_LIMIT": "1M"}),
    Case("memory-dump-csv-streams", ("dump", "{tiny}", "token_embd.weight", "--csv", "-"), 0,
         check=lambda r, c: r.stdout.endswith("\n999,255,0.0011100769\n"), env={"LAYOUTSCOPE_MEMORY_LIMIT": "1M"}),
    # argparse's own complaints, one line each
    Case("missing-value", (*_CMP, "--rows"), 2, ("--rows: needs a value", _HELP)),
    Case("unknown-option", (*_CMP, "--bogus", "1"), 2, ("unrecognized arguments: --bogus 1", _HELP)),
    Case("unknown-command", ("frob", "x"), 2, ("unknown command 'frob': choose from info, explain",
                                                "(see layoutscope --help)")),
    Case("missing-argument", ("explain", "{tiny}"), 2, ("the following arguments are required: tensor",)),
    Case("huge-option-value", (*_CMP, "--platform", "p" * 100_000), 2, ("--platform 'ppp", "(100000 characters)"),
         check=short_error()),
]


# == 6. Odd files and terminals ======================================================

HOSTILE_TENSOR = "blk.0.ffn_up.weight\x1b[31m\nfake line"


@builder("fifo")
def _fifo(path: Path) -> None:
    os.mkfifo(path)


@builder("directory")
def _directory(path: Path) -> None:
    path.mkdir()


@builder("linked")
def _linked(path: Path) -> None:
    # The model itself, and link.gguf beside it pointing at it.
    path.write_bytes(sample_path(TINY_LLAMA).read_bytes())
    (path.parent / "link.gguf").symlink_to(path)


@builder("hostile")
def _hostile(path: Path) -> None:
    # Escape sequences and newlines in the architecture, a key, a value and a tensor name.
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    b = GGUFBuilder().add("general.architecture", STRING, "ll\x1b[31mama\nX")
    b.add("evil\nkey\x1b[2J", STRING, "value\x1b]0;title\x07")
    w = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
    b.add_tensor(HOSTILE_TENSOR, (64, 32), 0, w.tobytes())
    b.add_tensor("output.weight", (64, 32), 0, w.tobytes())
    b.write(path)


@builder("truncated_vocab")
def _truncated_vocab(path: Path) -> None:
    # Cut 1000 bytes after the count of tokenizer.ggml.tokens: 1000 strings cannot fit (each takes 8 bytes or more).
    import layoutscope

    with layoutscope.open(sample_path(TINY_LLAMA)) as model:
        start = model.metadata["tokenizer.ggml.tokens"].start
    path.write_bytes(sample_path(TINY_LLAMA).read_bytes()[: start + 1000])


@builder("long_duplicate_names")
def _long_duplicate_names(path: Path) -> None:
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    b = GGUFBuilder().add("general.architecture", STRING, "llama")
    for _ in range(2):
        b.add_tensor("n" * 100_000, (32,), 0, bytes(128))
    b.write(path)


def no_raw_controls(result, crafted) -> None:
    """A check: no escape character reaches the terminal, and no file-borne newline starts a line."""
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\x07" not in stream
        assert not [line for line in stream.splitlines() if line.startswith("fake line")], stream[:2000]


def _and(*checks: Callable) -> Callable:
    def check(result, crafted):
        for c in checks:
            c(result, crafted)
    return check


def _json_stays_raw(result, crafted) -> None:
    import json

    data = json.loads(result.stdout)
    assert HOSTILE_TENSOR in [t["name"] for t in data["tensors"]]


CLASS_6: list[Case] = [
    # only regular files are models; nothing blocks on a FIFO
    Case("fifo", ("info", "{fifo}"), 2, ("fifo.gguf: a FIFO (named pipe), not a regular file",), timeout=20),
    Case("fifo-as-npy", ("diagnose", "{tiny}", "output.weight", "--observed", "{fifo}", "--input", "{fifo}"), 2,
         ("--observed '", "a FIFO (named pipe), not a regular file"), timeout=20),
    Case("dev-zero", ("info", "/dev/zero"), 2, ("/dev/zero: a character device, not a regular file",), timeout=20),
    Case("proc-file", ("info", "/proc/self/status"), 2, ("a kernel pseudo-file (under /proc or /sys)",), timeout=20),
    Case("directory", ("info", "{directory}"), 2, ("directory.gguf: a directory, not a regular file",)),
    Case("symlink-to-a-model", ("diff", "{dir}/link.gguf", "{linked}"), 0,
         check=stdout_has("every common tensor is byte-identical")),
    # control characters in names, keys and values are escaped in text, raw in JSON
    Case("hostile-info", ("info", "{hostile}", "--metadata"), 0,
         check=_and(no_raw_controls, stdout_has("ll\\e[31mama\\nX", "evil\\nkey\\e[2J",
                                                 "blk.0.ffn_up.weight\\e[31m\\nfake line"))),
    Case("hostile-explain", ("explain", "{hostile}", HOSTILE_TENSOR), 0,
         check=_and(no_raw_controls, stdout_has("blk.0.ffn_up.weight\\e[31m\\nfake line: F32"))),
    Case("hostile-dump", ("dump", "{hostile}", HOSTILE_TENSOR, "--rows", "0:1", "--cols", "0:2"), 0,
         check=no_raw_controls),
    Case("hostile-scan", ("scan", "{hostile}", "--backend", "npu-sim", "--jobs", "1"), 0, check=no_raw_controls),
    Case("hostile-diff", ("diff", "{hostile}", "{tiny}"), 0, check=no_raw_controls),
    Case("hostile-unknown-tensor", ("explain", "{hostile}", HOSTILE_TENSOR[:-1]), 2,
         ("no tensor named 'blk.0.ffn_up.weight\\e[31m\\nfake lin'", "did you mean"), check=no_raw_controls),
    Case("hostile-json-stays-raw", ("info", "{hostile}", "--json"), 0, check=_json_stays_raw),
    # a truncation message that states only what is known
    Case("truncated-string-array", ("info", "{truncated_vocab}"), 2,
         ("element count of array 'tokenizer.ggml.tokens' is 1000: 1000 strings need at least 8000 bytes but only "
          "1000 remain, so the file is truncated",)),
    # error lines never echo whole inputs
    Case("long-tensor-name", ("explain", "{tiny}", "x" * 100_000), 2,
         ("no tensor named 'xxx", "(100000 characters)"), check=short_error()),
    Case("long-input-path", (*_CMP, "--input", "x" * 100_000 + ".npy"), 2,
         ("--input '…xxx", "xxx.npy': no such .npy file"), check=short_error()),
    Case("long-duplicate-names-in-file", ("info", "{long_duplicate_names}"), 2,
         ("duplicate tensor name 'nnn", "(100000 characters)"), check=short_error()),
]


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
