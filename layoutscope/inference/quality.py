"""How far a candidate run's output distribution is from the reference's: KL divergence, top-1, perplexity.

The definitions are llama.cpp's (``llama-perplexity --kl-divergence``): per
scored position, log-softmax of both logit rows in float64; with p the
reference and q the candidate, KL divergence Σ p (log p − log q); top-1
agreement when argmax p = argmax q; perplexity exp(mean −log q(next token)).
:func:`score_positions` works in blocks of rows, so a 262,144-token vocabulary
never needs a whole chunk in float64 at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Rows converted to float64 at a time (64 rows × 262,144 × 8 bytes = 128 MiB at most).
BLOCK_ROWS = 64


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    x = np.asarray(logits, dtype=np.float64)
    top = x.max(axis=1, keepdims=True)
    shifted = x - top
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass
class PositionScores:
    """Per scored position: KL divergence, top-1 agreement, and both runs' −log p(next token)."""

    kld: np.ndarray = field(default_factory=lambda: np.zeros(0))
    same_top: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    nll_reference: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nll_candidate: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def extend(self, other: "PositionScores") -> None:
        """Append another chunk's positions."""
        self.kld = np.concatenate([self.kld, other.kld])
        self.same_top = np.concatenate([self.same_top, other.same_top])
        self.nll_reference = np.concatenate([self.nll_reference, other.nll_reference])
        self.nll_candidate = np.concatenate([self.nll_candidate, other.nll_candidate])

    def __len__(self) -> int:
        return len(self.kld)


def score_positions(reference: np.ndarray, candidate: np.ndarray, positions: np.ndarray,
                    targets: np.ndarray) -> PositionScores:
    """Scores of ``positions`` (rows of both logit arrays, (n, vocab)) whose next tokens are ``targets``."""
    parts = []
    for start in range(0, len(positions), BLOCK_ROWS):  # blocks of rows; the vocabulary axis is vectorised
        rows = positions[start:start + BLOCK_ROWS]
        want = targets[start:start + BLOCK_ROWS]
        log_p = log_softmax(reference[rows])
        log_q = log_softmax(candidate[rows])
        kld = (np.exp(log_p) * (log_p - log_q)).sum(axis=1)
        same = log_p.argmax(axis=1) == log_q.argmax(axis=1)
        picked = np.arange(len(rows))
        parts.append((kld, same, -log_p[picked, want], -log_q[picked, want]))
    if not parts:
        return PositionScores()
    kld, same, nll_p, nll_q = (np.concatenate(column) for column in zip(*parts))
    return PositionScores(kld, same, nll_p, nll_q)


@dataclass(frozen=True)
class Quality:
    """The end-to-end figures of one candidate run over all scored positions."""

    tokens: int
    kld_mean: float
    kld_stderr: float
    kld_median: float
    kld_p99: float
    kld_max: float
    top1_agreement: float
    ppl_reference: float
    ppl_candidate: float

    @classmethod
    def of(cls, scores: PositionScores) -> "Quality":
        """The summary of ``scores`` (NaN figures when no position was scored)."""
        n = len(scores)
        if n == 0:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan, nan, nan)
        kld = scores.kld
        # llama-perplexity's uncertainty of the mean: the standard deviation over sqrt(n - 1).
        stderr = float(np.sqrt(kld.var() / (n - 1))) if n > 1 else math.nan
        return cls(
            tokens=n,
            kld_mean=float(kld.mean()),
            kld_stderr=stderr,
            kld_median=float(np.median(kld)),
            kld_p99=float(np.percentile(kld, 99)),
            kld_max=float(kld.max()),
            top1_agreement=float(scores.same_top.mean()),
            ppl_reference=float(np.exp(scores.nll_reference.mean())),
            ppl_candidate=float(np.exp(scores.nll_candidate.mean())),
        )

    def kld_dict(self) -> dict:
        """The KL divergence figures as the JSON report names them."""
        return {"mean": self.kld_mean, "stderr": self.kld_stderr, "median": self.kld_median,
                "p99": self.kld_p99, "max": self.kld_max}
