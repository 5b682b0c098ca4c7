"""Requantization: float weights or activations → NPU codes (int8, int4, fp16) + scales.

Schemes (``--weight-quant`` / ``--act-quant``):

* ``per-tensor``: one scale, amax/127 (amax/7 for int4).
* ``per-channel`` / ``per-token``: one scale per row (output channel n of W,
  token m of X).
* ``per-group:G``: one scale per row and per G consecutive elements along K
  (G = 32 lines up with Q8_0 blocks).
* ``fixed`` (weights): clamp to ±1, times 127 — the first public llama.cpp
  RKNPU2 backend's scheme. ``fixed:R`` (activations): clamp to ±R, times 127/R.

Integer codes are symmetric: round half away from zero, then clip to ±127
(±7 for int4). fp16 rounds to nearest even and has scale 1.

Non-finite inputs never reach numpy as warnings: ranges are taken over the
finite values, NaN is coded 0 and ±inf saturates to ±127 (±7), and
:attr:`Requantized.findings` says how many there were and where the first
one is (the NPU cannot carry them, so their outputs will not match the
CPU's). fp16 keeps NaN and ±inf, and values beyond ±65504 become ±inf,
with a finding. A ``fixed:R`` clamp outside float32's normal range is a
ValueError: its scale would be 0 or inf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

#: What each scheme does on real hardware (librknnrt), shown where a scheme is chosen.
HARDWARE_LIMITS = {
    "per-tensor": "supported for A, B and C (per-layer quant params)",
    "per-token": "A and C accept per-layer params only: per-token scales are applied on the CPU to the int32 output",
    "per-channel": "B only; INT8→INT32 with per-channel B returned all zeros on runtime 2.3.2 and INT8→FP32 failed to create (airockchip/rknn-toolkit2#550)",
    "per-group": "B only; INT8→FP32 with per-group B returned all zeros on runtime 2.3.2 (#550); scales are a row-major [K/G, N] array",
    "fixed": "needs no runtime quant params: codes are plain int8 with an implied scale",
}


@dataclass(frozen=True)
class Scheme:
    """A parsed scheme: ``kind`` plus its group size or clamp range."""

    kind: str
    group: Optional[int] = None
    clamp: Optional[float] = None

    def __str__(self) -> str:
        if self.kind == "per-group":
            return f"per-group:{self.group}"
        if self.kind == "fixed" and self.clamp not in (None, 1.0):
            return f"fixed:{self.clamp:g}"
        return self.kind

    @property
    def hardware_limit(self) -> str:
        """What librknnrt does with this scheme on the board."""
        return HARDWARE_LIMITS[self.kind]


def parse_scheme(text: "str | Scheme") -> Scheme:
    """``"per-group:32"`` → ``Scheme("per-group", group=32)``; ValueError explains bad input."""
    if isinstance(text, Scheme):
        return text
    raw = str(text).strip().lower()
    kind, _, arg = raw.partition(":")
    if kind in ("per-tensor", "per-channel", "per-token") and not arg:
        return Scheme(kind)
    if kind == "per-group":
        if not arg.isdigit() or int(arg) <= 0:
            raise ValueError(f"scheme {text!r}: per-group needs a positive group size, e.g. per-group:32")
        return Scheme(kind, group=int(arg))
    if kind == "fixed":
        try:
            clamp = float(arg) if arg else 1.0
        except ValueError:
            clamp = -1.0
        if not clamp > 0 or not np.isfinite(clamp):
            raise ValueError(f"scheme {text!r}: fixed:R needs a positive clamp range R, e.g. fixed:1.7")
        limits = np.finfo(np.float32)
        if not float(limits.tiny) <= clamp <= float(limits.max):
            raise ValueError(f"scheme {text!r}: R = {clamp:g} is outside float32's normal range "
                             f"({float(limits.tiny):.2g} .. {float(limits.max):.2g}), so its scale would be 0 or "
                             "inf; choose R within it, e.g. fixed:4")
        return Scheme(kind, clamp=clamp)
    raise ValueError(
        f"unknown scheme {text!r}; use per-tensor, per-channel, per-token, per-group:G, fixed or fixed:R"
    )


#: Bits of each NPU code dtype: the ``bits`` argument of :func:`requantize`.
CODE_BITS = {"int8": 8, "int4": 4, "fp16": 16}


@dataclass(frozen=True)
class Requantized:
    """Codes, scales and the float values they stand for.

    ``codes`` is int8 (int8 and int4 codes) or float16; ``scale`` broadcasts
    against the (rows, K) input: shape (1, 1), (rows, 1) or (rows, K/G)
    expanded by :meth:`scale_per_element`. ``values`` is None for integer
    codes requantized with ``keep_values=False``.
    """

    codes: np.ndarray
    scale: np.ndarray
    values: Optional[np.ndarray]
    scheme: Scheme
    bits: int
    notes: tuple = field(default=())
    findings: tuple = field(default=())

    @property
    def dtype(self) -> str:
        """The NPU dtype of the codes: "int8", "int4" or "fp16"."""
        return {bits: dtype for dtype, bits in CODE_BITS.items()}[self.bits]

    def scale_per_element(self) -> np.ndarray:
        """The scale of every element, shape like ``codes``."""
        return expand_scale(self.scale, self.scheme, *self.codes.shape)


#: Elements per row block in :func:`requantize` (128 KB of float32 temporaries, in cache).
_BLOCK_ELEMENTS = 32 * 1024


def expand_scale(scale: np.ndarray, scheme: Scheme, rows: int, k: int) -> np.ndarray:
    """Scales (1, 1), (rows, 1) or (rows, K/G) broadcast to every element of (rows, K)."""
    if scheme.kind == "per-group":
        return np.repeat(scale, scheme.group, axis=1)[:, :k]
    return np.broadcast_to(scale, (rows, k))


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (C ``round``) on a float array (float32 or float64); ``x`` is consumed.

    ``x + 0.5`` would round 0.49999999999999994 up; the fraction left after
    truncation is exact, so comparing it with ±0.5 is not.
    """
    whole = np.trunc(x)
    fraction = np.subtract(x, whole, out=x)
    whole += fraction >= 0.5
    whole -= fraction <= -0.5
    return whole


def quotient_codes(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """round_half_away(w / scale) of float32 arrays, as integer-valued float32, exactly.

    The exact quotient of two float32 values is never within float64 rounding
    of a half-integer unless it *is* one, so rounding the float64 quotient is
    rounding the exact one. The float32 quotient is cheaper: correctly
    rounded division is monotonic and half-integers up to 2**22 are float32
    values, so its nearest integer is the exact quotient's, except where it
    lands exactly on a half-integer. Only those few elements are decided
    again from the float64 quotient. Bit-identical to
    ``round_half_away(np.divide(w, scale, dtype=np.float64))``, at half the
    memory traffic.
    """
    q = np.divide(w, scale, dtype=np.float32)
    codes = np.rint(q)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN here, and handled below
        fraction = np.subtract(q, codes, out=q)  # exact: q and its nearest integer are within a factor of 2
    np.abs(fraction, out=fraction)
    top = fraction.max() if fraction.size else 0.0
    if top != top:
        # A non-finite input (its max is NaN): NaN is coded 0, ±inf keeps its sign for the clip to saturate.
        codes[np.isnan(codes)] = 0
        fraction[~np.isfinite(fraction)] = 0
        top = fraction.max()
    if top == 0.5:  # a half-integer quotient: rint went to even
        ties = np.unravel_index(np.flatnonzero(fraction == 0.5), codes.shape)  # 1-D search: 40x a 2-D one
        w_ties = np.broadcast_to(w, codes.shape)[ties].astype(np.float64)
        s_ties = np.broadcast_to(scale, codes.shape)[ties].astype(np.float64)
        codes[ties] = round_half_away(w_ties / s_ties)
    return codes


def requantize(w: np.ndarray, scheme: "str | Scheme" = "per-channel", bits: int = 8,
               checkpoint: Optional[Callable[[], None]] = None, keep_values: bool = True) -> Requantized:
    """Requantize a float (rows, K) array: W (N, K) or X (M, K).

    ``bits`` is 8 (int8), 4 (int4) or 16 (fp16). Per-channel and per-token
    both mean one scale per row. ``checkpoint()`` is called before each block
    of rows; it raises to stop the work (a user's cancel). ``keep_values=False``
    leaves :attr:`Requantized.values` None (integer codes: a pass and a float32
    copy of W saved, for runs that only multiply).
    """
    s = parse_scheme(scheme)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"requantize needs a 2-D (rows, K) array, got shape {w.shape}")
    if bits == 16:
        with np.errstate(over="ignore"):  # beyond ±65504 is inf in fp16, as on the NPU; a finding below
            codes = w.astype(np.float16)
        scale = np.ones((1, 1), np.float32)
        values = codes.astype(np.float32)
        return Requantized(codes, scale, values, s, 16, ("fp16 rounds to nearest even; the scheme does not apply",),
                           _fp16_findings(w, values))
    qmax = code_max(bits)
    rows, k = w.shape
    amax, masked = _range(w, s)
    scale, notes = integer_scale(amax, s, qmax, k)
    codes = np.empty((rows, k), dtype=np.int8)
    values = np.empty((rows, k), dtype=np.float32) if keep_values else None
    step = max(1, _BLOCK_ELEMENTS // max(1, k))
    # Row blocks keep the temporaries in cache (2x faster than whole-array passes);
    # a loop over blocks of rows, not over elements.
    for start in range(0, rows, step):
        if checkpoint is not None:
            checkpoint()
        block = slice(start, min(start + step, rows))
        block_scale = scale if scale.shape[0] == 1 else scale[block]
        if keep_values:
            codes[block], _ = encode_rows(w[block], block_scale, s, qmax, values=values[block])
        else:
            codes[block] = encode_codes(w[block], block_scale, s, qmax)[0]
    if s.kind == "fixed":
        with np.errstate(invalid="ignore"):  # NaN compares false: not clamped, coded 0
            clipped = int(np.count_nonzero(np.abs(w) > np.float32(s.clamp)))
        if clipped:
            notes = (f"{clipped} values beyond ±{s.clamp:g} were clamped", *notes)
        # A fixed scheme takes no range; one sum tells whether any input is not finite.
        with np.errstate(invalid="ignore"):  # inf + -inf is NaN: still not finite
            suspect = not np.isfinite(np.sum(w, dtype=np.float64))
    else:
        suspect = masked
    findings = _coding_findings(w, s, qmax) if suspect else ()
    return Requantized(codes, scale, values, s, bits, tuple(notes), findings)


def code_max(bits: int) -> int:
    """The largest integer code of ``bits``-bit symmetric codes: 127 for int8, 7 for int4."""
    if bits not in (8, 4):
        raise ValueError(f"bits must be 8, 4 or 16, got {bits}")
    return 127 if bits == 8 else 7


def range_of(w: np.ndarray, scheme: Scheme) -> np.ndarray:
    """max |w| over each range one scale covers: (1, 1), (rows, 1) or (rows, ceil(K/G)).

    ``fixed`` needs no range and gets (1, 1) zeros. Row-wise schemes can be
    taken over any block of rows; per-tensor ranges combine with ``np.maximum``.
    Only finite values count: a range holding NaN or inf is taken over the rest.
    """
    return _range(w, scheme)[0]


def _range(w: np.ndarray, scheme: Scheme) -> tuple[np.ndarray, bool]:
    """:func:`range_of`, and whether non-finite values had to be left out of it."""
    amax = _raw_range(w, scheme)
    if np.isfinite(amax).all():
        return amax, False
    # Rare: a NaN or inf showed up in a range; take the ranges again over the finite values only.
    return _raw_range(np.where(np.isfinite(w), w, np.float32(0)), scheme), True


def _raw_range(w: np.ndarray, scheme: Scheme) -> np.ndarray:
    rows, k = w.shape
    if scheme.kind == "fixed":
        return np.zeros((1, 1), np.float32)
    if scheme.kind == "per-tensor":
        return np.maximum(w.max(initial=0.0), -w.min(initial=0.0)).reshape(1, 1)
    if scheme.kind in ("per-channel", "per-token"):
        return np.maximum(w.max(axis=1, initial=0.0), -w.min(axis=1, initial=0.0)).reshape(rows, 1)
    g = scheme.group
    padded = np.pad(np.abs(w), ((0, 0), (0, -k % g)))
    return padded.reshape(rows, -1, g).max(axis=2)


def coding_text(count: int, first: tuple, qmax: int) -> str:
    """The finding for ``count`` non-finite inputs to integer codes (the first at ``first``, (row, col))."""
    return (f"requantization: {count} non-finite input value(s), the first at row {first[0]}, col {first[1]}: "
            f"ranges leave them out, NaN is coded 0 and ±inf saturates to ±{qmax}; the NPU cannot carry them, "
            "so the outputs they feed will not match the CPU's")


def _coding_findings(w: np.ndarray, scheme: Scheme, qmax: int) -> tuple:
    bad = ~np.isfinite(w)
    count = int(np.count_nonzero(bad))
    if not count:
        return ()
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), w.shape))
    return (coding_text(count, first, qmax),)


def _fp16_findings(w: np.ndarray, values: np.ndarray) -> tuple:
    # One sum tells whether anything is not finite in fp16; only then is it counted.
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN: still not finite
        if np.isfinite(np.sum(values, dtype=np.float64)):
            return ()
    overflow = np.isinf(values) & np.isfinite(w)
    out = []
    n = int(np.count_nonzero(overflow))
    if n:
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(overflow)), w.shape))
        out.append(f"requantization to fp16: {n} value(s) beyond ±65504 became ±inf, the first at row {first[0]}, "
                   f"col {first[1]}; the outputs they feed are not finite on the NPU")
    carried = int(np.count_nonzero(~np.isfinite(w)))
    if carried:
        out.append(f"requantization to fp16: {carried} non-finite input value(s) stay NaN or ±inf in fp16")
    return tuple(out)


def integer_scale(amax: np.ndarray, scheme: Scheme, qmax: int, k: int) -> tuple[np.ndarray, tuple]:
    """The float32 scales for ranges ``amax`` (from :func:`range_of`), and notes on what went wrong."""
    notes: list[str] = []
    if scheme.kind == "fixed":
        return np.full((1, 1), np.float32(scheme.clamp) / np.float32(qmax), np.float32), ()
    if scheme.kind == "per-group" and k % scheme.group:
        notes.append(f"K = {k} is not a multiple of the group size {scheme.group}: the last group is short")
    scale = (amax / np.float32(qmax)).astype(np.float32)
    underflow = int(np.count_nonzero((scale == 0) & (amax > 0)))
    if underflow:
        notes.append(f"{underflow} scale(s) underflowed float32 (|w| < {qmax}·1.4e-45): their codes are 0")
    # An all-zero (or underflowing) row or group has no usable range: any scale gives zero codes.
    scale[scale == 0] = np.float32(1.0)
    return scale, tuple(notes)


def encode_rows(w: np.ndarray, scale: np.ndarray, scheme: Scheme, qmax: int,
                values: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Codes (integer-valued float32) and the values they stand for, of float32 rows ``w`` under ``scale``.

    ``scale`` holds the rows' scales ((1, 1), (rows, 1) or (rows, K/G)); keep
    ``w`` small enough to stay in cache: every step is a pass over it. The
    values are written into ``values`` when it is given.
    """
    codes, per_element = encode_codes(w, scale, scheme, qmax)
    return codes, np.multiply(codes, per_element, out=values)


def encode_codes(w: np.ndarray, scale: np.ndarray, scheme: Scheme, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes of :func:`encode_rows` alone, and the per-element scale view they were divided by."""
    rows, k = w.shape
    source = np.clip(w, -np.float32(scheme.clamp), np.float32(scheme.clamp)) if scheme.kind == "fixed" else w
    per_element = expand_scale(scale, scheme, rows, k)
    codes = quotient_codes(source, per_element)
    np.clip(codes, -qmax, qmax, out=codes)
    return codes, per_element
