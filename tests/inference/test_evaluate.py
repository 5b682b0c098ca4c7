"""``evaluate``: the null test, a known perturbation of one weight, the sweep, Ctrl-C, and the error tallies."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from layoutscope.backend import get_backend
from layoutscope.inference.evaluate import (Candidate, CandidateResult, ErrorTally, NpuMatmuls, evaluate,
                                            sweep_first_k)
from layoutscope.inference.quality import PositionScores
from layoutscope.report.eval_report import last_within


@dataclass
class _Out:
    y: np.ndarray


class Scaled:
    """A fake NPU side: ggml's CPU result, times (1 + eps) for the weights ``scaled`` picks, exact otherwise."""

    name = "fake"

    def __init__(self, eps: float, scaled=lambda name: True):
        self._cpu = get_backend("cpu", threads=1)
        self.eps = eps
        self._scaled = scaled
        self.calls: dict[str, int] = {}

    def matmul(self, tensor, x):
        self.calls[tensor.name] = self.calls.get(tensor.name, 0) + 1
        y = self._cpu.matmul(tensor, x).y
        if self._scaled(tensor.name):
            y = (y.astype(np.float64) * (1.0 + self.eps)).astype(np.float32)
        return _Out(y)


class Noisy:
    """A fake NPU side: ggml's CPU result plus noise of RMS ``eps`` × RMS(y), fixed per weight (seeded by its name).

    Independent errors on every weight add up, so more weights on this side move the output further
    (a uniform scale would not: RMS norms absorb much of it).
    """

    name = "fake-noisy"

    def __init__(self, eps: float):
        self._cpu = get_backend("cpu", threads=1)
        self.eps = eps
        self.calls: dict[str, int] = {}

    def matmul(self, tensor, x):
        self.calls[tensor.name] = self.calls.get(tensor.name, 0) + 1
        y = self._cpu.matmul(tensor, x).y.astype(np.float64)
        noise = np.random.default_rng(zlib.crc32(tensor.name.encode())).standard_normal(y.shape)
        return _Out((y + self.eps * np.sqrt(np.mean(y * y)) * noise).astype(np.float32))


def _layer(name: str) -> Optional[int]:
    parts = name.split(".")
    return int(parts[1]) if parts[0] == "blk" else None


# -- the null test -------------------------------------------------------------------
def test_cpu_side_is_the_null_test(engine, tiny_model, first_chunks, weights):
    side = NpuMatmuls(get_backend("cpu", threads=1), tiny_model)
    run = evaluate(engine, first_chunks, [Candidate("all", tuple(weights))], side)
    assert run.complete and run.chunks_done == 2
    result = run.results[0]
    q = result.quality
    assert q.tokens == sum(len(c.scored) for c in first_chunks)
    assert result.identical_logits
    assert (result.scores.kld == 0).all() and q.kld_max == 0 and q.top1_agreement == 1.0
    assert q.ppl_candidate == q.ppl_reference
    assert sorted(result.layers) == [0, 1, 2, 3]
    assert all(t.nmse == 0 and t.cosine == pytest.approx(1.0) for t in result.layers.values())
    assert list(result.weights) == weights and all(t.nmse == 0 for t in result.weights.values())
    assert all(t.rows == sum(len(c.tokens) for c in first_chunks) for t in result.weights.values())


# -- a known perturbation --------------------------------------------------------------
CHOSEN, J, EPS = "blk.2.ffn_up.weight", 2, 1e-3


@pytest.fixture(scope="module")
def perturbed(engine, tiny_model, first_chunks, weights):
    side = NpuMatmuls(Scaled(EPS, lambda name: name == CHOSEN), tiny_model)
    return evaluate(engine, first_chunks[:1], [Candidate("all", tuple(weights))], side).results[0]


def test_drift_starts_at_the_perturbed_layer(perturbed):
    drift = {index: tally.nmse for index, tally in perturbed.layers.items()}
    assert sorted(drift) == [0, 1, 2, 3]
    assert all(drift[i] == 0.0 for i in range(J))
    assert all(drift[i] > 0.0 for i in range(J, 4))
    assert perturbed.layers[0].cosine == pytest.approx(1.0)
    assert perturbed.layers[J].cosine < 1.0


def test_a_perturbed_weight_moves_the_output_distribution(perturbed):
    q = perturbed.quality
    assert not perturbed.identical_logits
    assert q.kld_mean > 0 and q.kld_max > 0
    assert q.ppl_candidate != q.ppl_reference


def test_single_errors_isolate_the_perturbed_weight(perturbed, weights):
    single = {name: tally.nmse for name, tally in perturbed.weights.items()}
    assert set(single) == set(weights)
    # y (1 + eps) against y: NMSE = eps², up to float32 rounding of the product.
    assert single[CHOSEN] == pytest.approx(EPS ** 2, rel=1e-3)
    others = {name: nmse for name, nmse in single.items() if name != CHOSEN}
    assert all(nmse == 0.0 for name, nmse in others.items() if (_layer(name) or 99) < J)
    # Later weights see a moved input, but the NPU side and llama.cpp multiply the same one: still exact.
    assert all(nmse == 0.0 for nmse in others.values())


# -- the sweep ----------------------------------------------------------------------------
def test_sweep_candidates_are_nested(weights):
    sweep = sweep_first_k(weights, 4)
    assert [c.k for c in sweep] == [0, 1, 2, 3, 4]
    assert [c.label for c in sweep] == [f"first:{k}" for k in range(5)]
    assert sweep[0].selected == ()
    for smaller, larger in zip(sweep, sweep[1:]):
        assert set(smaller.selected) < set(larger.selected)
        assert len(larger.selected) - len(smaller.selected) == 7
    assert "output.weight" not in sweep[-1].selected


@pytest.fixture(scope="module")
def swept(engine, tiny_model, first_chunks, weights):
    backend = Noisy(0.1)
    side = NpuMatmuls(backend, tiny_model)
    run = evaluate(engine, first_chunks[:1], sweep_first_k(weights, 4), side)
    return run, backend


def test_sweep_k0_is_the_reference_and_kld_grows_with_k(swept):
    run, _ = swept
    k0 = run.results[0]
    assert k0.candidate.k == 0 and k0.identical_logits
    assert k0.quality.kld_mean == 0 and k0.quality.kld_max == 0 and k0.quality.top1_agreement == 1.0
    assert all(t.nmse == 0 for t in k0.layers.values()) and k0.weights == {}
    means = [r.quality.kld_mean for r in run.results]
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert run.results[-1].quality.top1_agreement < 1.0


def test_sweep_runs_only_the_selected_weights(swept, weights):
    run, backend = swept
    for result in run.results:
        assert set(result.weights) == set(result.candidate.selected)
    # weight w of layer L is on the NPU side for k = L+1..4, one chunk each
    assert backend.calls == {w: 4 - _layer(w) for w in weights if _layer(w) is not None}


# -- last_within on hand-made results -----------------------------------------------------
def _point(k: int, kld_mean: float) -> CandidateResult:
    result = CandidateResult(Candidate(f"first:{k}", (), k))
    if not math.isnan(kld_mean):
        result.scores = PositionScores(np.array([kld_mean]), np.array([True]), np.zeros(1), np.zeros(1))
    return result


@pytest.mark.parametrize("klds,bound,expected", [
    ([0.0, 0.001, 0.002, 0.003], 0.01, 3),        # all within: the last k
    ([0.0, 0.001, 0.02, 0.03], 0.01, 1),          # the last k before the bound is crossed
    ([0.0, 0.02, 0.005, 0.001], 0.01, 0),         # a later dip does not count: every point up to k
    ([0.0, 0.01, 0.02], 0.01, 1),                 # exactly the bound is within
    ([0.5, 0.6], 0.01, None),                     # even k = 0 exceeds it
    ([0.0, math.nan, 0.0], 0.01, 0),              # a point with no scored position stops the walk
    ([], 0.01, None),
])
def test_last_within(klds, bound, expected):
    assert last_within([_point(k, v) for k, v in enumerate(klds)], bound) == expected


# -- Ctrl-C keeps whole chunks ------------------------------------------------------------
@pytest.mark.parametrize("stop_at", [1, 2, 3, 5])
def test_interrupt_keeps_the_whole_chunks_only(engine, tiny_model, first_chunks, weights, stop_at):
    # Per chunk: the reference, then two candidates: steps 1-3 are chunk 0, 4-6 chunk 1. A chunk counts as soon as
    # its last decode is measured, before that step's progress report: a Ctrl-C there keeps it.
    candidates = [Candidate("all", tuple(weights)), Candidate("first:1", tuple(weights[:7]), 1)]
    steps = []

    def progress(label, done, total):
        steps.append(label)
        assert (done, total) == (len(steps), 6)
        if len(steps) == stop_at:
            raise KeyboardInterrupt

    side = NpuMatmuls(get_backend("cpu", threads=1), tiny_model)
    run = evaluate(engine, first_chunks, candidates, side, progress)
    done = stop_at // 3  # the chunks merged before the interrupt
    assert run.chunks_done == done and run.chunks_total == 2 and not run.complete
    scored = sum(len(c.scored) for c in first_chunks[:done])
    for result in run.results:
        assert len(result.scores) == scored
        assert all(t.rows == sum(len(c.tokens) for c in first_chunks[:done]) for t in result.weights.values())
    assert steps[0] == "reference"


# -- requantized once -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Prepared:
    name: str
    values: Optional[np.ndarray]


class Preparing:
    """A fake NPU side with ``prepare``: counts how often each weight is prepared."""

    name = "fake-npu"

    def __init__(self):
        self._cpu = get_backend("cpu", threads=1)
        self.prepared: dict[str, int] = {}
        self._tensors: dict = {}

    def prepare(self, tensor, keep_values=True):
        self.prepared[tensor.name] = self.prepared.get(tensor.name, 0) + 1
        self._tensors[tensor.name] = tensor
        # A run that only multiplies asks for the codes alone: no float copies of the weight are kept.
        return _Prepared(tensor.name, np.zeros(3) if keep_values else None)

    def matmul_prepared(self, prepared, x):
        assert prepared.values is None  # the run asked for no float copy
        return self._cpu.matmul(self._tensors[prepared.name], x)


def test_weights_are_prepared_once_across_chunks_and_sweep_points(engine, tiny_model, first_chunks, weights):
    backend = Preparing()
    side = NpuMatmuls(backend, tiny_model)
    run = evaluate(engine, first_chunks, [Candidate("all", tuple(weights))] + sweep_first_k(weights, 4), side)
    assert run.complete
    assert backend.prepared == {w: 1 for w in weights}
    assert run.requantize_seconds == side.requantize_seconds >= 0
    assert run.results[0].identical_logits


# -- the tallies --------------------------------------------------------------------------------
def test_error_tally_matches_numpy_and_merges_like_one_tally():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 9)).astype(np.float32)
    b = a + rng.normal(0, 0.1, a.shape).astype(np.float32)
    whole = ErrorTally()
    whole.add(b, a)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert whole.nmse == pytest.approx(((b64 - a64) ** 2).sum() / (a64 ** 2).sum(), rel=1e-12)
    assert whole.cosine == pytest.approx((a64 * b64).sum() / np.linalg.norm(a64) / np.linalg.norm(b64), rel=1e-12)
    assert whole.rows == 6
    parts = ErrorTally()
    for rows in (slice(0, 2), slice(2, 6)):
        piece = ErrorTally()
        piece.add(b[rows], a[rows])
        parts.merge(piece)
    assert parts.rows == 6
    assert parts.nmse == pytest.approx(whole.nmse, rel=1e-12) and parts.cosine == pytest.approx(whole.cosine)


def test_error_tally_in_blocks_of_rows_sums_the_same(monkeypatch):
    from layoutscope.inference import evaluate as evaluating

    rng = np.random.default_rng(6)
    a = rng.standard_normal((7, 9)).astype(np.float32)
    b = a + rng.normal(0, 0.1, a.shape).astype(np.float32)
    whole = ErrorTally()
    whole.add(b, a)
    monkeypatch.setattr(evaluating, "TALLY_ELEMENTS", 20)  # two rows of 9 per block: 4 blocks, the last short
    blocked = ErrorTally()
    blocked.add(b, a)
    assert blocked.rows == whole.rows == 7
    for name in ("err2", "ref2", "dot", "cand2"):
        assert getattr(blocked, name) == pytest.approx(getattr(whole, name), rel=1e-12)


def test_error_tally_edge_cases():
    empty = ErrorTally()
    assert empty.nmse == 0.0 and empty.cosine == 1.0
    zeros = np.zeros((2, 3))
    ones = np.ones((2, 3))
    only_reference_zero = ErrorTally()
    only_reference_zero.add(ones, zeros)
    assert only_reference_zero.nmse == math.inf and only_reference_zero.cosine == 0.0
    same = ErrorTally()
    same.add(ones, ones)
    assert same.nmse == 0.0 and same.cosine == pytest.approx(1.0)
