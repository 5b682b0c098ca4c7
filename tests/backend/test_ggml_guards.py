"""Every call into ggml is checked first: what ggml would abort on raises ValueError, and the process lives.

ggml answers bad arguments with ``GGML_ASSERT``, which aborts the process (no
Python exception can catch it). The cases run in one child process, in a
batch: each prints its outcome before the next starts, so an abort fails the
case that caused it (by name) instead of killing the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: name -> (Python expression calling libggml as ``g``, a word the ValueError must hold).
CASES = {
    # mul_mat: Y = X @ W^T on ggml's CPU backend
    "mul_mat type id beyond the table": ("g.mul_mat(43, w8, 32, x32)", "outside ggml's table"),
    "mul_mat negative type id": ("g.mul_mat(-1, w8, 32, x32)", "outside ggml's table"),
    "mul_mat type id that is not an integer": ("g.mul_mat(8.0, w8, 32, x32)", "must be an integer"),
    "mul_mat type without a CPU dot product (I32)": ("g.mul_mat(26, f32(2, 8), 8, x(8))", "no matmul"),
    "mul_mat activation-only type (Q8_K)": ("g.mul_mat(15, u8(1, 292), 256, x(256))", "no matmul"),
    "mul_mat removed type id": ("g.mul_mat(4, u8(1, 20), 32, x32)", "no matmul"),
    "mul_mat K = 0": ("g.mul_mat(0, u8(4, 0), 0, x(0))", "at least 1"),
    "mul_mat negative K": ("g.mul_mat(0, u8(4, 0), -32, x32)", "at least 1"),
    "mul_mat K not a whole number of blocks": ("g.mul_mat(8, u8(2, 51), 48, x(48))", "whole number"),
    "mul_mat zero weight rows (N = 0)": ("g.mul_mat(8, u8(0, 34), 32, x32)", "N >= 1"),
    "mul_mat zero activation rows (M = 0)": ("g.mul_mat(8, w8, 32, np.zeros((0, 32), np.float32))", "M >= 1"),
    "mul_mat rows shorter than K needs": ("g.mul_mat(8, u8(2, 33), 32, x32)", "row bytes"),
    "mul_mat 1-D weight": ("g.mul_mat(8, u8(2, 34).reshape(-1), 32, x32)", "row bytes"),
    "mul_mat weight given as floats": ("g.mul_mat(0, f32(2, 32), 32, x32)", "uint8"),
    "mul_mat activations of the wrong width": ("g.mul_mat(8, w8, 32, x(31))", "(M, 32)"),
    "mul_mat zero threads": ("g.mul_mat(8, w8, 32, x32, threads=0)", "at least 1"),
    "mul_mat negative threads": ("g.mul_mat(8, w8, 32, x32, threads=-2)", "at least 1"),
    "mul_mat more threads than ggml has": ("g.mul_mat(8, w8, 32, x32, threads=513)", "at most 512"),
    "mul_mat a row size beyond ggml's arithmetic": ("g.mul_mat(0, u8(1, 4), 2**61, x32)", "more than ggml"),
    # to_float: dequantize raw bytes
    "to_float type id beyond the table": ("g.to_float(99, u8(1, 34), 32)", "outside ggml's table"),
    "to_float type without to_float (I32)": ("g.to_float(26, u8(1, 4), 1)", "no to_float"),
    "to_float partial block": ("g.to_float(8, u8(1, 34), 31)", "whole number"),
    "to_float buffer shorter than the elements": ("g.to_float(8, u8(1, 34), 64)", "holds 34"),
    "to_float negative count": ("g.to_float(8, u8(1, 34), -32)", "at least 0"),
    "to_float a count beyond ggml's arithmetic": ("g.to_float(1, u8(1, 2), 2**62)", "more than ggml"),
    # quantize: ggml_quantize_chunk
    "quantize to an activation-only type (Q8_K)": ("g.quantize(15, f32(1, 256))", "not a weight type"),
    "quantize to a type without a dot product (I32)": ("g.quantize(26, f32(1, 8))", "not a weight type"),
    "quantize to a removed type": ("g.quantize(31, f32(1, 32))", "not a weight type"),
    "quantize zero rows": ("g.quantize(8, f32(0, 32))", "at least 1"),
    "quantize empty rows": ("g.quantize(8, f32(4, 0))", "at least 1"),
    "quantize a partial block": ("g.quantize(8, f32(2, 48))", "multiple of block size"),
    "quantize NaN": ("g.quantize(8, nan_rows(32))", "non-finite"),
    "quantize inf to an i-quant": ("g.quantize(16, inf_rows(256), np.ones(256, np.float32))", "non-finite"),
    "quantize an i-quant without an importance matrix": ("g.quantize(16, f32(1, 256))", "importance matrix"),
    "quantize with a short importance matrix": ("g.quantize(16, f32(1, 256), np.ones(255, np.float32))", "256 values"),
    "quantize with a NaN importance matrix": ("g.quantize(16, f32(1, 256), nan_rows(256)[0])", "finite"),
    "quantize 3-D values": ("g.quantize(8, np.zeros((2, 2, 32), np.float32))", "(nrows, n_per_row)"),
    # the C GGUF reader
    "gguf reader given a NUL in the path": ("g.gguf_open_close('a\\0b.gguf')", "NUL"),
}

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from layoutscope.backend.libggml import load

    g = load()
    def u8(*shape): return np.zeros(shape, np.uint8)
    def f32(*shape): return np.full(shape, 0.5, np.float32)
    def x(k): return np.ones((2, k), np.float32)
    def nan_rows(k): a = f32(1, k); a[0, 3] = np.nan; return a
    def inf_rows(k): a = f32(1, k); a[0, 3] = np.inf; return a
    w8, x32 = u8(2, 34), x(32)
    for name, expr in json.loads(sys.stdin.read()):
        print(json.dumps(["start", name]), flush=True)
        try:
            eval(expr)
            outcome = ["returned", ""]
        except ValueError as exc:
            outcome = ["ValueError", str(exc)]
        except Exception as exc:
            outcome = [type(exc).__name__, str(exc)]
        print(json.dumps(["done", name, *outcome]), flush=True)
    # A valid call after every refusal: ggml is still usable.
    y = g.mul_mat(8, g.quantize(8, f32(3, 32)), 32, x32)
    print(json.dumps(["done", "valid call afterwards", "returned", str(y.shape)]), flush=True)
""")


@pytest.fixture(scope="module")
def outcomes() -> dict:
    """Run every case in one child; ``{name: (outcome, message)}``, or fail naming the case that aborted."""
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps([[n, e] for n, (e, _) in CASES.items()]),
                          capture_output=True, text=True, timeout=300)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[\"")]
    started = [r[1] for r in records if r[0] == "start"]
    if proc.returncode != 0:
        pytest.fail(f"the child died (return code {proc.returncode}) during {started[-1] if started else '?'!r}:\n"
                    f"{proc.stderr[-2000:]}", pytrace=False)
    return {r[1]: (r[2], r[3]) for r in records if r[0] == "done"}


@pytest.mark.parametrize("name", list(CASES))
def test_guarded_call_raises_value_error(name, outcomes):
    kind, message = outcomes[name]
    assert kind == "ValueError", (kind, message)
    assert CASES[name][1] in message, message
    assert "\n" not in message


def test_ggml_still_works_after_every_refusal(outcomes):
    assert outcomes["valid call afterwards"] == ("returned", "(2, 3)")


def test_to_float_of_zero_elements_is_empty_without_calling_ggml(ggml):
    import numpy as np

    assert ggml.to_float(8, np.zeros(0, np.uint8), 0).shape == (0,)
