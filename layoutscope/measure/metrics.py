"""Metrics between a result and its reference, judged by the verdict bands (:mod:`~layoutscope.measure.bands`).

One vocabulary everywhere (DESIGN.md): NMSE = Σ(y − r)² / Σr² against the
reference r, SNR dB = −10·log10(NMSE), cosine, max and mean |err|, the share
of bit-identical outputs for integer paths, the worst elements, and a
verdict: ok ≤ 5e-4 (ggml's own mul_mat tolerance) < degraded ≤ 1e-2 < broken.

Non-finite values (NaN, ±inf) are findings, never warnings, and every metric
is taken over the same positions: those where both sides are finite. A
position where both sides hold the same non-finite value (NaN and NaN, or
the same infinity) is left out and counted; a position where only one side
is finite, or the two differ (NaN against inf, +inf against −inf), is a
*mismatch*: it is counted too, and any mismatch makes the verdict broken.
With no position finite on both sides there is nothing to measure: NMSE,
SNR and cosine are NaN and the verdict is broken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

# The bands live in their own numpy-free module; they stay importable from here.
from layoutscope.measure.bands import DEFAULT_BANDS, VERDICTS, fails, verdict  # noqa: F401
from layoutscope.measure.jsonable import jsonable
from layoutscope.measure.nonfinite import NonFinite, NonFiniteTally, find_nonfinite


def excluded_text(same: int, mismatched: int, judged: bool = False) -> str:
    """What the metrics left out, in words ("" when nothing was); ``judged`` adds what it does to the verdict."""
    parts = []
    if mismatched:
        parts.append(f"{mismatched} position(s) finite on one side only (or non-finite in different ways)")
    if same:
        parts.append(f"{same} position(s) with the same non-finite value on both sides")
    if not parts:
        return ""
    text = "left out of the metrics: " + " and ".join(parts)
    return text + ("; a one-sided non-finite value makes the verdict broken" if judged and mismatched else "")


@dataclass(frozen=True)
class Worst:
    """One of the largest errors: position, values and |err|."""

    m: int
    n: int
    value: float
    reference: float
    abs_err: float


class LeftOut:
    """What a measurement left out: positions where a side is not finite (``same_nonfinite``, ``mismatched``)."""

    same_nonfinite: int
    mismatched: int

    @property
    def excluded(self) -> int:
        """Positions left out of the metrics (either side not finite)."""
        return self.same_nonfinite + self.mismatched

    @property
    def excluded_text(self) -> str:
        """What was left out and why, in words ("" when nothing was)."""
        return excluded_text(self.same_nonfinite, self.mismatched, judged=True)


@dataclass(frozen=True)
class Metrics(LeftOut):
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
    measured: int = 0
    same_nonfinite: int = 0
    mismatched: int = 0
    nonfinite: tuple[NonFinite, ...] = ()

    def to_dict(self) -> dict:
        """Plain data for JSON (non-finite numbers as strings)."""
        return jsonable({
            "nmse": self.nmse, "snr_db": self.snr_db, "cosine": self.cosine,
            "max_abs": self.max_abs, "mean_abs": self.mean_abs,
            "exact_fraction": self.exact_fraction, "verdict": self.verdict, "bands": self.bands,
            "measured": self.measured, "excluded": self.excluded, "same_nonfinite": self.same_nonfinite,
            "mismatched": self.mismatched, "nonfinite": [f.to_dict() for f in self.nonfinite],
            "worst": [w.__dict__ for w in self.worst],
        })


def _ratio_metrics(noise: float, signal: float) -> tuple[float, float]:
    """(NMSE, SNR dB) from the sums of squared error and of squared reference."""
    if signal > 0:
        nmse = noise / signal
    else:
        nmse = 0.0 if noise == 0 else float("inf")
    if math.isnan(nmse):
        nmse = float("inf")
    snr = float("inf") if nmse == 0 else (-10.0 * math.log10(nmse) if math.isfinite(nmse) else float("-inf"))
    return float(nmse), float(snr)


def _cosine(y: np.ndarray, r: np.ndarray, noise_free: bool) -> float:
    """y·r / (‖y‖‖r‖) of float64 vectors, rescaled first when the norms would overflow."""
    norm = float(np.linalg.norm(y)) * float(np.linalg.norm(r))
    if not math.isfinite(norm):
        y = y / np.abs(y).max()
        r = r / np.abs(r).max()
        norm = float(np.linalg.norm(y)) * float(np.linalg.norm(r))
    if norm > 0:
        return float(np.dot(y, r)) / norm
    return 1.0 if noise_free else 0.0


def compare(y, reference, k_worst: int = 10, bands: tuple[float, float] = DEFAULT_BANDS,
            names: Sequence[str] = ("result", "reference")) -> Metrics:
    """Metrics of ``y`` against ``reference`` (same shape; 1-D or 2-D).

    ``exact_fraction`` is reported when both arrays are integers. The
    metrics cover the positions where both sides are finite (see the module
    docstring); ``names`` label the two arrays in the non-finite findings.
    Mismatched positions come first among the worst elements.
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
    axes = ("m", "n") if y.ndim == 2 else ()
    # Any data can arrive here (an observed .npy, a weight with NaN): overflow and NaN are findings below.
    with np.errstate(over="ignore", invalid="ignore"):
        err = yd - rd
        abs_err = np.abs(err)
        finite = np.isfinite(yd) & np.isfinite(rd)
        if finite.all():
            measured_err, measured_y, measured_r = err.ravel(), yd.ravel(), rd.ravel()
            same = mismatch = 0
            mismatched_at = np.array([], dtype=np.intp)
            nonfinite: tuple = ()
        else:
            flat_finite = finite.ravel()
            alike = (np.isnan(yd) & np.isnan(rd)) | (yd == rd)
            mismatched = ~finite & ~alike
            same = int(np.count_nonzero(~finite & alike))
            mismatch = int(np.count_nonzero(mismatched))
            mismatched_at = np.flatnonzero(mismatched)
            measured_err, measured_y, measured_r = (a.ravel()[flat_finite] for a in (err, yd, rd))
            nonfinite = tuple(f for f in (find_nonfinite(y, names[0], axes), find_nonfinite(r, names[1], axes)) if f)
        nmse, snr = _ratio_metrics(float(np.dot(measured_err, measured_err)), float(np.dot(measured_r, measured_r)))
        cosine = _cosine(measured_y, measured_r, noise_free=not measured_err.any())
        measured_abs = np.abs(measured_err)
        if not measured_abs.size and y.size:
            nmse = snr = cosine = float("nan")  # not one position to measure: no figure, and no "ok"
    cols = y2.shape[1]
    worst_idx = mismatched_at[:k_worst]
    k = min(k_worst - len(worst_idx), measured_abs.size)
    if k > 0:
        # Positions among the measured ones, mapped back to the whole array.
        positions = np.flatnonzero(finite.ravel()) if len(measured_abs) != finite.size else None
        top = np.argpartition(-measured_abs, k - 1)[:k]
        top = top[np.argsort(-measured_abs[top], kind="stable")]
        worst_idx = np.concatenate([worst_idx, top if positions is None else positions[top]])
    flat_abs = abs_err.reshape(-1)
    worst = tuple(
        Worst(int(i // cols), int(i % cols), float(yd.flat[i]), float(rd.flat[i]), float(flat_abs[i]))
        for i in worst_idx
    )
    return Metrics(
        nmse=nmse,
        snr_db=snr,
        cosine=cosine,
        max_abs=float(measured_abs.max()) if measured_abs.size else 0.0,
        mean_abs=float(measured_abs.mean()) if measured_abs.size else 0.0,
        exact_fraction=float(np.mean(y2 == r2)) if integer and y2.size else None,
        worst=worst,
        verdict=verdict(nmse, bands, mismatch),
        bands=tuple(bands),
        measured=int(measured_abs.size),
        same_nonfinite=same,
        mismatched=mismatch,
        nonfinite=nonfinite,
    )


@dataclass(frozen=True)
class ErrorSummary(LeftOut):
    """NMSE, SNR and max |err| of a large array against its reference (no per-element detail).

    Like :class:`Metrics`, measured where both sides are finite; ``same_nonfinite``
    and ``mismatched`` count the positions left out, ``nonfinite`` says where.
    """

    nmse: float
    snr_db: float
    max_abs: float
    measured: int = 0
    same_nonfinite: int = 0
    mismatched: int = 0
    nonfinite: tuple[NonFinite, ...] = ()

    def verdict(self, bands: tuple[float, float] = DEFAULT_BANDS) -> str:
        """The verdict of this error (broken on any non-finite mismatch)."""
        return verdict(self.nmse, bands, self.mismatched)

    def to_dict(self) -> dict:
        """Plain data for JSON (non-finite numbers as strings)."""
        return jsonable({"nmse": self.nmse, "snr_db": self.snr_db, "max_abs": self.max_abs,
                         "measured": self.measured, "excluded": self.excluded,
                         "same_nonfinite": self.same_nonfinite, "mismatched": self.mismatched,
                         "nonfinite": [f.to_dict() for f in self.nonfinite]})


#: Elements per block of :class:`ErrorAccumulator` (1 MB of float32: in L2, and few enough Python calls).
_SUMMARY_BLOCK = 256 * 1024


class ErrorAccumulator:
    """Running NMSE sums over a large array fed in pieces (rows of a weight, chunks of a tensor).

    Each piece is walked in blocks of rows that stay in cache; a block's sums
    are BLAS dot products in float32 (SIMD lanes keep each partial short
    enough to stay accurate), added up in float64. A 65-million-element
    weight costs about one pass over its memory instead of float64 copies.

    A block whose sums are not finite (a NaN or inf on either side, or values
    whose squares overflow float32) is measured again, only then, in float64
    over its finite positions, and its non-finite values are counted and
    located: a clean weight pays nothing for the check. ``names`` label the
    two sides in the findings, ``axes`` their dimensions.
    """

    def __init__(self, names: Sequence[str] = ("values", "reference"), axes: Sequence[str] = ("row", "col")) -> None:
        self.noise = self.signal = self.max_abs = 0.0
        self.names, self.axes = tuple(names), tuple(axes)
        self.measured = self.same_nonfinite = self.mismatched = 0
        self._tallies = (NonFiniteTally(), NonFiniteTally())

    @staticmethod
    def rows_per_block(k: int) -> int:
        """Rows of width ``k`` summed per BLAS dot; pieces of a multiple of it sum exactly as one array does."""
        return max(1, _SUMMARY_BLOCK // max(1, k))

    def add(self, y: np.ndarray, reference: np.ndarray, first_row: int = 0) -> None:
        """Add a piece: ``y`` and ``reference`` of equal shape (rows, K), whose rows start at ``first_row``."""
        y2 = np.asarray(y, dtype=np.float32).reshape(-1, np.shape(y)[-1] if np.ndim(y) else 1)
        r2 = np.asarray(reference, dtype=np.float32).reshape(y2.shape)
        step = self.rows_per_block(y2.shape[1])
        # A non-finite value shows as a non-finite sum; its float32 arithmetic must not warn on the way.
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, y2.shape[0], step):  # blocks of rows, not elements
                a, b = y2[start:start + step], r2[start:start + step]
                err = (a - b).ravel()
                noise = float(np.dot(err, err))
                signal = float(np.dot(b.ravel(), b.ravel()))
                if not (math.isfinite(noise) and math.isfinite(signal)):
                    self._add_checked(a, b, first_row + start)
                    continue
                self.noise += noise
                self.signal += signal
                self.measured += err.size
                for tally in self._tallies:
                    tally.add_finite(err.size)
                if err.size:
                    self.max_abs = max(self.max_abs, float(err.max()), float(-err.min()))

    def _add_checked(self, a: np.ndarray, b: np.ndarray, first_row: int) -> None:
        """One block with non-finite values or float32 overflow: float64 sums over its finite positions."""
        self._tallies[0].add(a, first_row)
        self._tallies[1].add(b, first_row)
        finite = np.isfinite(a) & np.isfinite(b)
        alike = (np.isnan(a) & np.isnan(b)) | (a == b)
        self.same_nonfinite += int(np.count_nonzero(~finite & alike))
        self.mismatched += int(np.count_nonzero(~finite & ~alike))
        ad, bd = a[finite].astype(np.float64), b[finite].astype(np.float64)
        err = ad - bd
        self.noise += float(np.dot(err, err))
        self.signal += float(np.dot(bd, bd))
        self.measured += err.size
        if err.size:
            self.max_abs = max(self.max_abs, float(np.abs(err).max()))

    def result(self) -> ErrorSummary:
        """The :class:`ErrorSummary` of everything added."""
        nmse, snr = _ratio_metrics(self.noise, self.signal)
        nonfinite = tuple(f for f in (t.finding(name, self.axes) for t, name in zip(self._tallies, self.names)) if f)
        return ErrorSummary(nmse=nmse, snr_db=snr, max_abs=self.max_abs, measured=self.measured,
                            same_nonfinite=self.same_nonfinite, mismatched=self.mismatched, nonfinite=nonfinite)


def error_summary(y: np.ndarray, reference: np.ndarray, names: Sequence[str] = ("values", "reference"),
                  axes: Sequence[str] = ("row", "col")) -> ErrorSummary:
    """:class:`ErrorSummary` of two equal-shape float arrays, e.g. a requantized weight vs its dequantized values."""
    acc = ErrorAccumulator(names, axes)
    acc.add(y, reference)
    return acc.result()
