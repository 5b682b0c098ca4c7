"""Cancellation checkpoints: long work polls a hook between blocks, so a cancel stops it within a block.

Each test gives the work a hook that trips on its second call: the work must
raise before the second block starts, and the hook must be consulted once per
block (not once per job, which is what made a 262,144-row head take seconds to
cancel). With a hook that never trips, results are bit-identical to running
without one.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import get_backend
from layoutscope.backend import npu_pipeline
from layoutscope.backend.npu_sweep import sweep
from layoutscope.backend.rknpu2.requantize import requantize


class Tripped(Exception):
    """Raised by a hook that stands for the user's cancel."""


class Hook:
    """A checkpoint that counts its calls and raises on call number ``trip`` (never when None)."""

    def __init__(self, trip=None):
        self.calls = 0
        self.trip = trip

    def __call__(self) -> None:
        self.calls += 1
        if self.trip is not None and self.calls >= self.trip:
            raise Tripped()


@pytest.fixture(scope="module")
def tiny(tiny_llama_path):
    with layoutscope.open(tiny_llama_path) as model:
        yield model


def test_requantize_polls_between_row_blocks():
    w = np.random.default_rng(0).standard_normal((64, 2048)).astype(np.float32)  # 16 rows per 32K-element block
    hook = Hook()
    assert np.array_equal(requantize(w, "per-channel", 8, checkpoint=hook).codes, requantize(w, "per-channel", 8).codes)
    assert hook.calls == 4
    with pytest.raises(Tripped):
        requantize(w, "per-channel", 8, checkpoint=Hook(trip=2))


def test_prepare_polls_while_dequantizing_and_requantizing(tiny, monkeypatch):
    monkeypatch.setattr(npu_pipeline, "CHECKED_BLOCK_ELEMENTS", 256 * 16)
    weight = tiny.tensor("blk.0.attn_q.weight")  # 256 rows of 256: 16 dequantize blocks, 2 requantize blocks
    backend = get_backend("npu-sim")
    hook = Hook()
    checked = backend.prepare(weight, checkpoint=hook)
    plain = backend.prepare(weight)
    assert hook.calls == 16 + 2
    assert np.array_equal(checked.values, plain.values) and np.array_equal(checked.requantized.codes,
                                                                           plain.requantized.codes)
    decoded = []
    real = npu_pipeline.dequantize_rows  # the bulk decoder (ggml's to_float or numpy) the pipeline decodes with
    monkeypatch.setattr(npu_pipeline, "dequantize_rows", lambda w, rows=None: decoded.append(rows) or real(w, rows))
    with pytest.raises(Tripped):
        backend.prepare(weight, checkpoint=Hook(trip=2))
    assert len(decoded) == 1  # the second block was never decoded


def test_the_npu_calls_poll_between_calls(tmp_path):
    from layoutscope.samples.ggufwrite import GGUFBuilder

    rng = np.random.default_rng(1)
    path = tmp_path / "wide.gguf"
    (GGUFBuilder().add("general.architecture", 8, "llama")
     .add_tensor("wide.weight", (32, 8200), 0, rng.standard_normal((8200, 32)).astype(np.float32).tobytes())
     .write(path))
    with layoutscope.open(path) as model:
        weight = model.tensor("wide.weight")  # N = 8200 > 4096: three calls on RK3588
        backend = get_backend("npu-sim")
        prepared = backend.prepare(weight)
        x = rng.standard_normal((2, 32)).astype(np.float32)
        hook = Hook()
        result = backend.matmul_prepared(prepared, x, checkpoint=hook)
        assert hook.calls == result.details["calls"] == 3
        assert np.array_equal(result.y, backend.matmul_prepared(prepared, x).y)
        with pytest.raises(Tripped):
            backend.matmul_prepared(prepared, x, checkpoint=Hook(trip=2))


def test_sweep_polls_before_every_block(tiny):
    weight = tiny.tensor("blk.0.ffn_up.weight")  # 704 rows
    x = np.random.default_rng(2).standard_normal((2, weight.ne[0])).astype(np.float32)
    backends = [get_backend("npu-sim")]
    blocks: list[int] = []
    hook = Hook()
    ys = sweep(weight, x, backends, block_rows=100, on_block=lambda i, start, v, w: blocks.append(start),
               checkpoint=hook)
    assert hook.calls == len(blocks) == 8 and np.array_equal(ys[0], sweep(weight, x, backends, block_rows=100)[0])
    blocks.clear()
    with pytest.raises(Tripped):
        sweep(weight, x, backends, block_rows=100, on_block=lambda i, start, v, w: blocks.append(start),
              checkpoint=Hook(trip=2))
    assert blocks == [0]  # the first block finished, the second never started


def test_a_cancelled_scan_stops_inside_a_weight(tiny, monkeypatch):
    """The scan's cancel reaches a weight's row-block loop: the weight stops and its rows are dropped."""
    from layoutscope.backend import npu_sweep
    from layoutscope.measure.metrics import ErrorAccumulator
    from layoutscope.analyses.scan import ScanOptions, Scanner

    monkeypatch.setattr(ErrorAccumulator, "rows_per_block", staticmethod(lambda k: 100))  # 10 blocks of 1000 rows
    scanner = Scanner(tiny, ScanOptions(backend="npu-sim", filter="^output[.]weight$"))
    real = npu_sweep.exact_int_matmul
    blocks = []

    def matmul(a, b):
        blocks.append(len(blocks))
        scanner.cancelled.set()  # the user's esc, while the first block is being computed
        return real(a, b)

    monkeypatch.setattr(npu_sweep, "exact_int_matmul", matmul)
    report = scanner.run()
    assert report.interrupted and report.rows == [] and len(blocks) == 1


def test_a_matmul_cancelled_during_prepare_stops_there(tiny, monkeypatch):
    from layoutscope.backend import NpuSide
    from layoutscope.measure.session import MatmulCancelled, run_matmul
    from layoutscope.measure.settings import RunSettings

    monkeypatch.setattr(npu_pipeline, "CHECKED_BLOCK_ELEMENTS", 256 * 16)
    stages: list[str] = []
    polls = threading.Event()
    calls = []

    def cancelled() -> bool:
        calls.append(stages[-1] if stages else "")
        if stages and stages[-1] == "npu side" and calls.count("npu side") == 3:
            polls.set()
        return polls.is_set()

    with pytest.raises(MatmulCancelled):
        run_matmul(tiny, "blk.0.attn_q.weight", RunSettings(backend="npu-sim"), NpuSide("npu-sim", "test", False),
                   stage=lambda i, s: stages.append(s), cancelled=cancelled)
    assert stages == ["input", "npu side"]  # stopped inside the NPU side's prepare, not at the next stage
    assert calls.count("npu side") == 3
