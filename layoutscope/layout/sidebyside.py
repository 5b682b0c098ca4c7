"""A weight's dequantized values next to what the NPU receives, a window of rows at a time.

:class:`SideBySide` requantizes W with the chosen scheme (``requantize`` in
``backend.rknpu2``) only for the rows asked for, in chunks kept in a small
LRU cache, so the TUI's Values grid costs the same at row 200,000 of an
embedding as at row 0. Row-local schemes (per-channel, per-group, fixed) need
nothing else; per-tensor needs the tensor's largest |w| first
(:func:`tensor_amax`, run in a worker). :func:`~layoutscope.report.csv_tables.write_side_by_side_csv`
exports the whole weight, chunk by chunk.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from layoutscope.backend.rknpu2.requantize import CODE_BITS, Scheme, parse_scheme, range_of, requantize
from layoutscope.layout.npu_location import b_dtype

#: Rows decoded and requantized together; a cache entry.
CHUNK_ROWS = 16
#: Chunks kept; 8 × 16 rows of an 11008-wide row is about 18 MB.
CACHE_CHUNKS = 8


class ExportCancelled(Exception):
    """The user cancelled an export; the target file is left untouched."""


@dataclass(frozen=True)
class Window:
    """Rows ``start..stop`` of W: dequantized, NPU codes, NPU values, |error|, scales."""

    start: int
    stop: int
    dequantized: np.ndarray
    codes: np.ndarray
    npu: np.ndarray
    abs_err: np.ndarray
    scale: np.ndarray
    scheme: Scheme
    row_rms: np.ndarray

    def row_scale(self, row: int, col: int = 0) -> float:
        """The NPU scale that applies at (``row``, ``col``)."""
        s = self.scale
        i = row - self.start if s.shape[0] > 1 else 0
        j = col // self.scheme.group if self.scheme.kind == "per-group" else 0
        return float(s[i, min(j, s.shape[1] - 1)])

    def mismatch(self, threshold: float) -> np.ndarray:
        """Cells whose |error|² exceeds ``threshold`` (an NMSE) times their row's mean square.

        If every element of a row erred that much, the row's NMSE would equal
        the threshold: the same yardstick as a matmul verdict.
        """
        limit = np.sqrt(threshold) * self.row_rms[:, None]
        return self.abs_err > limit


def tensor_amax(tensor, rows_per_chunk: int = 256, cancelled: Optional[Callable[[], bool]] = None) -> float:
    """The largest finite |w| of a whole tensor, decoded chunk by chunk (per-tensor scales need it).

    NaN and inf are left out, as requantization leaves them out of every range.
    """
    amax = 0.0
    per_tensor = parse_scheme("per-tensor")
    for start in range(0, tensor.n_rows, rows_per_chunk):
        if cancelled is not None and cancelled():
            raise ExportCancelled("cancelled")
        w = tensor.dequantize(slice(start, start + rows_per_chunk))
        amax = max(amax, float(range_of(w, per_tensor)[0, 0]))
    return amax


class SideBySide:
    """Dequantized W next to its NPU requantization, windowed over rows.

    ``mm`` is the matmul type (its B dtype decides int8, int4 or fp16 codes).
    ``amax`` is required for the per-tensor scheme (see :attr:`needs_amax`).
    """

    def __init__(self, tensor, weight_quant: "str | Scheme" = "per-channel", mm: str = "int8",
                 amax: Optional[float] = None):
        self.tensor = tensor
        self.scheme = parse_scheme(weight_quant)
        self.dtype = b_dtype(mm)
        self.bits = CODE_BITS[self.dtype]
        self.amax = amax
        self._cache: "OrderedDict[int, Window]" = OrderedDict()

    @property
    def available(self) -> bool:
        """True when the tensor's values can be decoded at all (and it has some)."""
        return self.tensor.type.can_dequantize and not self.tensor.empty_reason

    @property
    def reason(self) -> str:
        """Why values are unavailable (empty when they are)."""
        return "" if self.available else (self.tensor.empty_reason or self.tensor.type.unavailable_reason())

    @property
    def needs_amax(self) -> bool:
        """True while a per-tensor scheme still waits for :func:`tensor_amax`."""
        return self.scheme.kind == "per-tensor" and self.amax is None and self.bits != 16

    @property
    def n_rows(self) -> int:
        """Rows of W (``ne1·ne2·ne3``)."""
        return self.tensor.n_rows

    @property
    def n_cols(self) -> int:
        """Columns of W (``ne0``)."""
        return self.tensor.ne[0]

    def window(self, row: int) -> Window:
        """The cached chunk holding ``row``."""
        chunk = row // CHUNK_ROWS
        hit = self._cache.get(chunk)
        if hit is not None:
            self._cache.move_to_end(chunk)
            return hit
        start = chunk * CHUNK_ROWS
        win = self.compute(start, min(start + CHUNK_ROWS, self.n_rows))
        self._cache[chunk] = win
        if len(self._cache) > CACHE_CHUNKS:
            self._cache.popitem(last=False)
        return win

    def insert(self, win: Window) -> None:
        """Cache a chunk computed elsewhere (a prefetching worker's own SideBySide)."""
        chunk, misaligned = divmod(win.start, CHUNK_ROWS)
        if misaligned or chunk in self._cache or win.scheme != self.scheme:
            return
        self._cache[chunk] = win
        if len(self._cache) > CACHE_CHUNKS:
            self._cache.popitem(last=False)

    def compute(self, start: int, stop: int) -> Window:
        """Rows ``start..stop`` requantized (not cached)."""
        if not self.available:
            raise NotImplementedError(f"{self.tensor.name}: {self.reason}")
        if self.needs_amax:
            raise RuntimeError("the per-tensor scale needs the tensor's largest |w| first (tensor_amax)")
        w = self.tensor.dequantize(slice(start, stop))
        r = requantize(w, self._row_local_scheme(), self.bits)
        npu = r.values
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf in W: NaN |error| and RMS, shown as such
            abs_err = np.abs(npu.astype(np.float64) - w).astype(np.float32)
            rms = np.sqrt(np.mean(np.square(w, dtype=np.float64), axis=1)).astype(np.float32)
        return Window(start, stop, w, r.codes, npu, abs_err, r.scale, self.scheme, rms)

    def _row_local_scheme(self) -> Scheme:
        # A per-tensor scale is amax/qmax; "fixed" with clamp = amax computes
        # the same float32 scale and codes from any subset of rows.
        if self.scheme.kind != "per-tensor" or self.bits == 16:
            return self.scheme
        qmax = 127 if self.bits == 8 else 7
        return Scheme("fixed", clamp=float(self.amax) if self.amax else float(qmax))
