"""The backend's weight calibrations: the amax a scale is made of (fact sheet §3.5–3.6).

INT8 (``RKNPU_W8_CALIB``), one amax per (K segment, output channel), each
function vectorised over the rows of a (N, K_seg) array:

* ``max``: the largest |w|.
* ``percentile``: the |w| at index trunc(float32(n)·99.9f/100f) in ascending
  order (the 3rd/5th/9th largest for 2048/4096/8192 values).
* ``mse``: 128 candidates from the 99.9-percentile up to (not including) the
  max; the first with the least squared error (double) of its int8
  round trip wins.

INT4, one amax per (K segment, core segment) block: :func:`kl_amax`, 128
candidates from the 99.5-percentile up to the max, each scored by the KL
divergence between the block's 2048-bin histogram and the histogram moved by
an int4 round trip of each bin's centre; the first minimum wins.

Every step is float32 where the backend computes in float, double where it
computes in double, in the backend's order. **UNCONFIRMED:** the searches cast
the rounded value to int8 before clamping it, which is undefined behaviour in
C++; GCC on AArch64 converts to int32 and keeps the low byte, so values past
±127.5 wrap mod 256 (``cast="wrap"``, the default); ``cast="clamp"`` clamps
without wrapping.
"""

from __future__ import annotations

import numpy as np

from ..rknpu2.requantize import round_half_away
from .names import CALIBRATIONS, SEARCH_CASTS  # noqa: F401 - the choices, listed with the functions
#: Candidates of both searches, bins of the KL histogram, and the percentiles their ranges start at.
STEPS = 128
BINS = 2048
MSE_PERCENTILE = 99.9
KL_PERCENTILE = 99.5
#: Smallest scale a candidate may have; smaller ones are skipped.
MIN_SCALE = np.float32(1e-9)
#: Added to every bin of P and Q.
EPSILON = 1e-9

_F32 = np.float32


def percentile_index(n: int, percent: float) -> int:
    """The index of the ``percent`` percentile among ``n`` sorted values: trunc(float32(n)·percent/100), at most n − 1."""
    index = int(_F32(n) * _F32(percent) / _F32(100))
    return min(index, n - 1)


def percentile_amax(rows: np.ndarray, percent: float = MSE_PERCENTILE) -> np.ndarray:
    """Per row of ``rows`` (R, n), the |w| at :func:`percentile_index` in ascending order (float32, (R,))."""
    rows = np.atleast_2d(rows)
    index = percentile_index(rows.shape[1], percent)
    return np.partition(np.abs(rows), index, axis=1)[:, index].astype(_F32)


def max_amax(rows: np.ndarray) -> np.ndarray:
    """Per row, the largest |w| (float32, (R,))."""
    rows = np.atleast_2d(rows)
    # max(max w, −min w) is max |w| exactly (negation is exact; NaN propagates alike), without an |w| copy.
    return np.maximum(rows.max(axis=1), -rows.min(axis=1)).astype(_F32)


def int8_cast(rounded: np.ndarray, cast: str = "wrap") -> np.ndarray:
    """A rounded float as the searches' ``(int8_t)`` cast leaves it (see the module docstring), as float64."""
    if cast == "clamp":
        return rounded
    if cast != "wrap":
        raise ValueError(f"unknown search cast {cast!r}; choose from {', '.join(SEARCH_CASTS)}")
    # float → int32 saturates (fcvtzs), then the low byte is kept.
    whole = np.clip(rounded, -2.0**31, 2.0**31 - 1).astype(np.int64)
    return ((whole + 128) % 256 - 128).astype(np.float64)


def _round_trip_codes(values: np.ndarray, iscale, qmax: int, cast: str) -> np.ndarray:
    """round-half-away(values·iscale) in float32, cast as the searches do, clamped to ±qmax."""
    product = (values * iscale).astype(np.float64)
    return np.clip(int8_cast(round_half_away(product), cast), -qmax, qmax)


def mse_amax(rows: np.ndarray, cast: str = "wrap", steps: int = STEPS, divisor: float = 127.0,
             clamp: int = 127) -> np.ndarray:
    """Per row of ``rows`` (R, n), the amax with the least int8 round-trip error (``calculate_min_mse_amax``).

    Rows whose max is 0 give 0; rows whose 99.9-percentile equals their max give the max.
    Rows are searched in blocks that stay in cache; within a block the loop runs over the
    candidates, each vectorised over every row and value of the block.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=_F32))
    hi = max_amax(rows)
    lo = percentile_amax(rows, MSE_PERCENTILE)
    best = hi.copy()
    best[hi == 0] = 0
    searched = np.flatnonzero((hi > 0) & (lo < hi))
    per = max(1, _CACHED_ELEMENTS // rows.shape[1])
    for start in range(0, searched.size, per):
        chosen = searched[start:start + per]
        best[chosen] = _mse_search(rows[chosen], lo[chosen], hi[chosen], cast, steps, _F32(divisor), clamp)
    return best


#: Elements of a block of rows searched together (float64 work arrays of 2 MiB).
_CACHED_ELEMENTS = 1 << 18


def _mse_search(rows, lo, hi, cast, steps, divisor, clamp) -> np.ndarray:
    """The mse search of rows whose range lo < hi is not empty; see :func:`mse_amax`."""
    best = hi.copy()
    best_error = np.full(rows.shape[0], np.inf)
    step = ((hi - lo) / _F32(steps)).astype(_F32)
    wide = rows.astype(np.float64)
    product = np.empty(rows.shape, dtype=_F32)
    codes = np.empty(rows.shape, dtype=np.float64)
    half = np.empty(rows.shape, dtype=np.float64)
    for i in range(steps):
        amax = (lo + _F32(i) * step).astype(_F32)
        scale = (amax / divisor).astype(_F32)
        live = scale >= MIN_SCALE
        if not live.any():
            continue
        safe = np.where(live, scale, _F32(1))
        np.multiply(rows, (_F32(1) / safe).astype(_F32)[:, None], out=product)
        # Round half away from zero: float64 holds a float32 value plus 0.5 exactly, so trunc(p ± 0.5) is exact.
        codes[...] = product
        np.copysign(0.5, codes, out=half)
        np.add(codes, half, out=codes)
        np.trunc(codes, out=codes)
        if cast == "wrap" and np.abs(codes).max() > 127:
            codes[...] = int8_cast(codes, cast)
        np.clip(codes, -clamp, clamp, out=codes)
        back = (codes.astype(_F32) * safe[:, None]).astype(np.float64)
        np.subtract(wide, back, out=back)
        error = np.einsum("ij,ij->i", back, back)
        better = live & (error < best_error)
        best_error[better] = error[better]
        best[better] = amax[better]
    return best


def _bins(shifted: np.ndarray, width: float) -> np.ndarray:
    """trunc(float32 value / double width) as int, C's ``static_cast<int>``."""
    return np.trunc(shifted.astype(np.float64) / width).astype(np.int64)


def kl_amax(block: np.ndarray, cast: str = "wrap", bins: int = BINS, steps: int = STEPS) -> np.float32:
    """The amax of one INT4 block by KL-divergence search (``calculate_entropy_amax``); 0 for an all-zero block."""
    values = np.asarray(block, dtype=_F32).reshape(-1)
    a = _F32(np.abs(values).max()) if values.size else _F32(0)
    if a == 0:
        return _F32(0)
    width = float(a) * 2.0 / bins
    index = np.minimum(_bins(values + a, width), bins - 1)
    p = np.bincount(index, minlength=bins).astype(np.float64) / values.size + EPSILON
    lo = percentile_amax(values[None, :], KL_PERCENTILE)[0]
    step = _F32((a - lo) / _F32(steps))
    candidates = (lo + np.arange(steps, dtype=_F32) * step).astype(_F32)
    scales = (candidates / _F32(7)).astype(_F32)
    live = scales >= MIN_SCALE
    if not live.any():
        return a
    safe = np.where(live, scales, _F32(1))
    iscales = (_F32(1) / safe).astype(_F32)
    centres = (-float(a) + (np.arange(bins, dtype=_F32) + _F32(0.5)).astype(np.float64) * width).astype(_F32)
    codes = _round_trip_codes(centres[None, :], iscales[:, None], 7, cast)
    moved = (codes.astype(_F32) * safe[:, None]).astype(_F32)
    target = np.clip(_bins(moved + a, width), 0, bins - 1)
    # Each candidate's Q, mass added bin by bin in order (bincount adds its weights in input order).
    flat = (target + np.arange(steps)[:, None] * bins).reshape(-1)
    q = np.bincount(flat, weights=np.tile(p, steps), minlength=steps * bins).reshape(steps, bins) + EPSILON
    terms = np.where(p > EPSILON * 1.1, p * np.log(p / q), 0.0)
    kl = np.cumsum(terms, axis=1)[:, -1]  # a running sum: the backend's order of additions
    kl[~live] = np.inf
    return candidates[int(np.argmin(kl))]
