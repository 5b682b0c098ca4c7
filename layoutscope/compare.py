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

#: Default verdict bands on NMSE: (ok_max, degraded_max).
DEFAULT_BANDS = (5e-4, 1e-2)
VERDICTS = ("ok", "degraded", "broken")


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
        def num(x):
            return x if x is None or np.isfinite(x) else str(x)

        return {
            "nmse": num(self.nmse), "snr_db": num(self.snr_db), "cosine": num(self.cosine),
            "max_abs": num(self.max_abs), "mean_abs": num(self.mean_abs),
            "exact_fraction": self.exact_fraction, "verdict": self.verdict, "bands": list(self.bands),
            "worst": [w.__dict__ for w in self.worst],
        }


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
        return {k: (v if np.isfinite(v) else str(v)) for k, v in self.__dict__.items()}


def error_summary(y: np.ndarray, reference: np.ndarray) -> ErrorSummary:
    """:class:`ErrorSummary` of two equal-shape float arrays, e.g. a requantized weight vs its dequantized values.

    Row sums are taken in float32 (each row is short enough to stay accurate)
    and added up in float64, so a 45-million-element weight costs a few
    passes over float32 memory instead of float64 copies.
    """
    y2 = np.asarray(y, dtype=np.float32).reshape(-1, np.shape(y)[-1] if np.ndim(y) else 1)
    r2 = np.asarray(reference, dtype=np.float32).reshape(y2.shape)
    err = y2 - r2
    noise = float(np.einsum("ij,ij->i", err, err).sum(dtype=np.float64))
    signal = float(np.einsum("ij,ij->i", r2, r2).sum(dtype=np.float64))
    max_abs = float(np.abs(err).max()) if err.size else 0.0
    if signal > 0:
        nmse = noise / signal
    else:
        nmse = 0.0 if noise == 0 else float("inf")
    if np.isnan(nmse):
        nmse = float("inf")
    snr = float("inf") if nmse == 0 else (-10.0 * np.log10(nmse) if np.isfinite(nmse) else float("-inf"))
    return ErrorSummary(nmse=float(nmse), snr_db=float(snr), max_abs=max_abs)
