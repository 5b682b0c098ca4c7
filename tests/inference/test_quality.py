"""KL divergence, top-1 agreement and perplexity against straightforward float64 computations on real logits."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from layoutscope.inference import quality
from layoutscope.inference.quality import PositionScores, Quality, log_softmax, score_positions


def naive_log_softmax(row) -> list[float]:
    """log softmax of one row, term by term in Python floats (float64)."""
    values = [float(v) for v in row]
    top = max(values)
    total = math.fsum(math.exp(v - top) for v in values)
    return [v - top - math.log(total) for v in values]


def naive_scores(reference, candidate, positions, targets):
    """Per position: KL(p || q), same argmax, −log p(target), −log q(target), one row at a time."""
    kld, same, nll_p, nll_q = [], [], [], []
    for pos, target in zip(positions, targets):
        log_p = naive_log_softmax(reference[pos])
        log_q = naive_log_softmax(candidate[pos])
        kld.append(math.fsum(math.exp(a) * (a - b) for a, b in zip(log_p, log_q)))
        same.append(log_p.index(max(log_p)) == log_q.index(max(log_q)))
        nll_p.append(-log_p[target])
        nll_q.append(-log_q[target])
    return kld, same, nll_p, nll_q


@pytest.fixture(scope="module")
def logged(engine, first_chunks):
    """Reference logits of a real chunk, a perturbed copy (some top-1s flipped), and the chunk."""
    chunk = first_chunks[0]
    reference = np.array(engine.decode(chunk.tokens), copy=True)
    rng = np.random.default_rng(12)
    candidate = reference + rng.normal(0.0, 0.05, reference.shape).astype(np.float32)
    candidate[3] = reference[3]  # one row untouched: KL 0 there
    return chunk, reference, candidate


def test_log_softmax_matches_the_naive_one(logged):
    _, reference, _ = logged
    ours = log_softmax(reference[:5])
    assert ours.dtype == np.float64
    for row, expected in zip(ours, (naive_log_softmax(r) for r in reference[:5])):
        assert np.allclose(row, expected, rtol=0, atol=1e-12)


def test_score_positions_matches_a_direct_computation(logged):
    chunk, reference, candidate = logged
    scores = score_positions(reference, candidate, chunk.scored, chunk.targets)
    kld, same, nll_p, nll_q = naive_scores(reference, candidate, chunk.scored, chunk.targets)
    assert len(scores) == len(chunk.scored) == len(kld)
    assert np.allclose(scores.kld, kld, rtol=1e-9, atol=1e-15)
    assert scores.kld[3] == 0.0 and (scores.kld >= 0).all() and scores.kld.max() > 0
    assert scores.same_top.tolist() == same
    assert not all(same), "the perturbation should flip at least one top-1 (else this test checks little)"
    assert np.allclose(scores.nll_reference, nll_p, rtol=1e-12)
    assert np.allclose(scores.nll_candidate, nll_q, rtol=1e-12)


def test_score_positions_is_the_same_in_any_block_size(logged, monkeypatch):
    chunk, reference, candidate = logged
    whole = score_positions(reference, candidate, chunk.scored, chunk.targets)
    monkeypatch.setattr(quality, "BLOCK_ROWS", 5)
    blocked = score_positions(reference, candidate, chunk.scored, chunk.targets)
    for name in ("kld", "same_top", "nll_reference", "nll_candidate"):
        assert np.array_equal(getattr(blocked, name), getattr(whole, name)), name


def test_score_positions_of_identical_logits_is_exactly_zero(logged):
    chunk, reference, _ = logged
    scores = score_positions(reference, reference.copy(), chunk.scored, chunk.targets)
    assert (scores.kld == 0).all() and scores.same_top.all()
    assert np.array_equal(scores.nll_reference, scores.nll_candidate)


def test_quality_summary_matches_direct_statistics(logged):
    chunk, reference, candidate = logged
    scores = score_positions(reference, candidate, chunk.scored, chunk.targets)
    kld, same, nll_p, nll_q = naive_scores(reference, candidate, chunk.scored, chunk.targets)
    q = Quality.of(scores)
    n = len(kld)
    assert q.tokens == n
    assert q.kld_mean == pytest.approx(math.fsum(kld) / n, rel=1e-9)
    # llama-perplexity's uncertainty: the (population) standard deviation over sqrt(n - 1).
    assert q.kld_stderr == pytest.approx(statistics.pstdev(kld) / math.sqrt(n - 1), rel=1e-6)
    assert q.kld_median == pytest.approx(statistics.median(kld), rel=1e-9)
    assert q.kld_p99 == pytest.approx(_percentile(kld, 99), rel=1e-9)
    assert q.kld_max == pytest.approx(max(kld), rel=1e-9)
    assert q.top1_agreement == pytest.approx(sum(same) / n)
    assert q.ppl_reference == pytest.approx(math.exp(math.fsum(nll_p) / n), rel=1e-9)
    assert q.ppl_candidate == pytest.approx(math.exp(math.fsum(nll_q) / n), rel=1e-9)
    assert q.kld_dict() == {"mean": q.kld_mean, "stderr": q.kld_stderr, "median": q.kld_median,
                            "p99": q.kld_p99, "max": q.kld_max}


def _percentile(values, pct: float) -> float:
    """The linear-interpolation percentile (rank pct/100 · (n − 1) between the sorted values)."""
    ordered = sorted(values)
    rank = pct / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def test_quality_on_hand_made_scores():
    kld = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    scores = PositionScores(kld, np.array([True, True, False, True, False]),
                            np.log([2.0, 2.0, 2.0, 2.0, 2.0]), np.log([4.0, 4.0, 4.0, 4.0, 4.0]))
    q = Quality.of(scores)
    assert q.kld_mean == pytest.approx(0.2) and q.kld_median == pytest.approx(0.2)
    assert q.kld_stderr == pytest.approx(math.sqrt(0.02 / 4))  # population variance 0.02, n − 1 = 4
    assert q.kld_p99 == pytest.approx(0.3 + 0.96 * 0.1) and q.kld_max == pytest.approx(0.4)
    assert q.top1_agreement == pytest.approx(0.6)
    assert q.ppl_reference == pytest.approx(2.0) and q.ppl_candidate == pytest.approx(4.0)


def test_quality_of_one_and_of_no_position():
    one = Quality.of(PositionScores(np.array([0.5]), np.array([False]), np.array([1.0]), np.array([2.0])))
    assert one.tokens == 1 and one.kld_mean == 0.5 and math.isnan(one.kld_stderr)
    assert one.top1_agreement == 0.0
    none = Quality.of(PositionScores())
    assert none.tokens == 0
    assert all(math.isnan(getattr(none, f)) for f in ("kld_mean", "kld_stderr", "kld_median", "kld_p99",
                                                       "kld_max", "top1_agreement", "ppl_reference",
                                                       "ppl_candidate"))


def test_position_scores_extend_appends_in_order():
    a = PositionScores(np.array([1.0]), np.array([True]), np.array([0.1]), np.array([0.2]))
    b = PositionScores(np.array([2.0, 3.0]), np.array([False, True]), np.array([0.3, 0.4]), np.array([0.5, 0.6]))
    a.extend(b)
    assert len(a) == 3 and a.kld.tolist() == [1.0, 2.0, 3.0] and a.same_top.tolist() == [True, False, True]
    assert a.nll_reference.tolist() == [0.1, 0.3, 0.4] and a.nll_candidate.tolist() == [0.2, 0.5, 0.6]
