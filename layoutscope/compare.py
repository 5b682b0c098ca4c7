"""Metrics between a result and its reference, and the verdict bands.

One vocabulary everywhere (DESIGN.md): NMSE = Σ(y − r)² / Σr² against the
reference r, SNR dB = −10·log10(NMSE), cosine, max and mean |err|, the share
of bit-identical outputs for integer paths, the worst elements, and a
verdict: ok ≤ 5e-4 (ggml's own mul_mat tolerance) < degraded ≤ 1e-2 < broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .jsonable import jsonable

#: Default verdict bands on NMSE: (ok_max, degraded_max).
DEFAULT_BANDS = (5e-4, 1e-2)
VERDICTS = ("ok", "degraded", "broken")


def fails(verdict: str, fail_on: "str | None") -> bool:
    """True when ``verdict`` is ``fail_on`` or worse (``--fail-on``); never when ``fail_on`` is None."""
    return fail_on is not None and VERDICTS.index(verdict) >= VERDICTS.index(fail_on)


@dataclass(frozen=True)
class Worst:
    """One of the largest errors: position, values and |err|."""

    m: int
    n: int
    value: float
    reference: float
    abs_err: float


@dataclass(frozen=True)
class Metrics:
    """How far ``y`` is from the reference; see the module docstring."""

    nmse: float
    snr_db: float
    cosine: float
    max_abs: float
    mean_abs: float
    exact_fraction: Optional[float]
    worst: tuple[Worst, ...]
    verdict: str
    bands: tuple[float, float] = field(default=DEFAULT_BANDS)

    def to_dict(self) -> dict:
        """Plain data for JSON (non-finite numbers as strings)."""
        return jsonable({
            "nmse": self.nmse, "snr_db": self.snr_db, "cosine": self.cosine,
            "max_abs": self.max_abs, "mean_abs": self.mean_abs,
            "exact_fraction": self.exact_fraction, "verdict": self.verdict, "bands": self.bands,
            "worst": [w.__dict__ for w in self.worst],
        })


def verdict(nmse: float, bands: tuple[float, float] = DEFAULT_BANDS) -> str:
    """``ok``, ``degraded`` or ``broken`` for an NMSE (NaN is broken)."""
    ok_max, degraded_max = bands
    if nmse <= ok_max:
        return "ok"
    if nmse <= degraded_max:
        return "degraded"
    return "broken"


def compare(y, reference, k_worst: int = 10, bands: tuple[float, float] = DEFAULT_BANDS) -> Metrics:
    """Metrics of ``y`` against ``reference`` (same shape; 1-D or 2-D).

    ``exact_fraction`` is reported when both arrays are integers.
    """
    y = np.asarray(y)
    r = np.asarray(reference)
    if y.shape != r.shape:
        raise ValueError(f"shapes differ: result {y.shape}, reference {r.shape}")
    integer = np.issubdtype(y.dtype, np.integer) and np.issubdtype(r.dtype, np.integer)
    y2 = y.reshape(y.shape[0] if y.ndim > 1 else 1, -1)
    r2 = r.reshape(y2.shape)
    yd = y2.astype(np.float64)
    rd = r2.astype(np.float64)
    err = yd - rd
    abs_err = np.abs(err)
    signal = float(np.sum(rd * rd))
    noise = float(np.sum(err * err))
    if signal > 0:
        nmse = noise / signal
    else:
        nmse = 0.0 if noise == 0 else float("inf")
    snr = float("inf") if nmse == 0 else (-10.0 * np.log10(nmse) if np.isfinite(nmse) else float("-inf"))
    norm = float(np.linalg.norm(yd) * np.linalg.norm(rd))
    cosine = float(np.sum(yd * rd) / norm) if norm > 0 else (1.0 if noise == 0 else 0.0)
    if np.isnan(nmse):
        nmse = float("inf")
    flat = abs_err.reshape(-1)
    k = min(k_worst, flat.size)
    worst_idx = np.argpartition(-np.nan_to_num(flat, nan=np.inf), k - 1)[:k] if k else np.array([], int)
    worst_idx = worst_idx[np.argsort(-np.nan_to_num(flat[worst_idx], nan=np.inf), kind="stable")]
    cols = y2.shape[1]
    worst = tuple(
        Worst(int(i // cols), int(i % cols), float(yd.flat[i]), float(rd.flat[i]), float(flat[i]))
        for i in worst_idx
    )
    return Metrics(
        nmse=float(nmse),
        snr_db=float(snr),
        cosine=cosine,
        max_abs=float(np.nanmax(flat)) if flat.size else 0.0,
        mean_abs=float(np.nanmean(flat)) if flat.size else 0.0,
        exact_fraction=float(np.mean(y2 == r2)) if integer and y2.size else None,
        worst=worst,
        verdict=verdict(nmse, bands),
        bands=tuple(bands),
    )


@dataclass(frozen=True)
class ErrorSummary:
    """NMSE, SNR and max |err| of a large array against its reference (no per-element detail)."""

    nmse: float
    snr_db: float
    max_abs: float

    def to_dict(self) -> dict:
        """Plain data for JSON (non-finite numbers as strings)."""
        return jsonable(self.__dict__)


#: Elements per block of :class:`ErrorAccumulator` (1 MB of float32: in L2, and few enough Python calls).
_SUMMARY_BLOCK = 256 * 1024


class ErrorAccumulator:
    """Running NMSE sums over a large array fed in pieces (rows of a weight, chunks of a tensor).

    Each piece is walked in blocks of rows that stay in cache; a block's sums
    are BLAS dot products in float32 (SIMD lanes keep each partial short
    enough to stay accurate), added up in float64. A 65-million-element
    weight costs about one pass over its memory instead of float64 copies.
    """

    def __init__(self) -> None:
        self.noise = self.signal = self.max_abs = 0.0

    @staticmethod
    def rows_per_block(k: int) -> int:
        """Rows of width ``k`` summed per BLAS dot; pieces of a multiple of it sum exactly as one array does."""
        return max(1, _SUMMARY_BLOCK // max(1, k))

    def add(self, y: np.ndarray, reference: np.ndarray) -> None:
        """Add a piece: ``y`` and ``reference`` of equal shape (rows, K)."""
        y2 = np.asarray(y, dtype=np.float32).reshape(-1, np.shape(y)[-1] if np.ndim(y) else 1)
        r2 = np.asarray(reference, dtype=np.float32).reshape(y2.shape)
        step = self.rows_per_block(y2.shape[1])
        for start in range(0, y2.shape[0], step):  # blocks of rows, not elements
            a, b = y2[start:start + step].ravel(), r2[start:start + step].ravel()
            err = a - b
            self.noise += float(np.dot(err, err))
            self.signal += float(np.dot(b, b))
            if err.size:
                self.max_abs = max(self.max_abs, float(err.max()), float(-err.min()))

    def result(self) -> ErrorSummary:
        """The :class:`ErrorSummary` of everything added."""
        if self.signal > 0:
            nmse = self.noise / self.signal
        else:
            nmse = 0.0 if self.noise == 0 else float("inf")
        if np.isnan(nmse):
            nmse = float("inf")
        snr = float("inf") if nmse == 0 else (-10.0 * np.log10(nmse) if np.isfinite(nmse) else float("-inf"))
        return ErrorSummary(nmse=float(nmse), snr_db=float(snr), max_abs=self.max_abs)


def error_summary(y: np.ndarray, reference: np.ndarray) -> ErrorSummary:
    """:class:`ErrorSummary` of two equal-shape float arrays, e.g. a requantized weight vs its dequantized values."""
    acc = ErrorAccumulator()
    acc.add(y, reference)
    return acc.result()
