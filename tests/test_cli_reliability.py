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
    assert "ne = [64, 0] has a zero dimension, so it holds no elements: blk.0.ffn_up.weight" in result.stdout


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
    _refusal("diagnose", "blk.0.ffn_up.weight", "[64, 0]", "--observed", "y.npy", "--input", "x.npy"),
    _refusal("diagnose", "blk.0.attn_q.weight", "[0, 32]", "--observed", "y.npy", "--input", "x.npy"),
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
    from layoutscope.diagnose import simulate

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
