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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

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
    expanded by :meth:`scale_per_element`.
    """

    codes: np.ndarray
    scale: np.ndarray
    values: np.ndarray
    scheme: Scheme
    bits: int
    notes: tuple = field(default=())

    @property
    def dtype(self) -> str:
        """The NPU dtype of the codes: "int8", "int4" or "fp16"."""
        return {bits: dtype for dtype, bits in CODE_BITS.items()}[self.bits]

    def scale_per_element(self) -> np.ndarray:
        """The scale of every element, shape like ``codes``."""
        return expand_scale(self.scale, self.scheme, *self.codes.shape)


#: Elements per row block in :func:`requantize` (256 KB of float64 temporaries).
_BLOCK_ELEMENTS = 32 * 1024


def expand_scale(scale: np.ndarray, scheme: Scheme, rows: int, k: int) -> np.ndarray:
    """Scales (1, 1), (rows, 1) or (rows, K/G) broadcast to every element of (rows, K)."""
    if scheme.kind == "per-group":
        return np.repeat(scale, scheme.group, axis=1)[:, :k]
    return np.broadcast_to(scale, (rows, k))


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (C ``round``) on a float64 array; ``x`` is consumed.

    ``x + 0.5`` would round 0.49999999999999994 up; the fraction left after
    truncation is exact, so comparing it with ±0.5 is not.
    """
    whole = np.trunc(x)
    fraction = np.subtract(x, whole, out=x)
    whole += fraction >= 0.5
    whole -= fraction <= -0.5
    return whole


def requantize(w: np.ndarray, scheme: "str | Scheme" = "per-channel", bits: int = 8) -> Requantized:
    """Requantize a float (rows, K) array: W (N, K) or X (M, K).

    ``bits`` is 8 (int8), 4 (int4) or 16 (fp16). Per-channel and per-token
    both mean one scale per row.
    """
    s = parse_scheme(scheme)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"requantize needs a 2-D (rows, K) array, got shape {w.shape}")
    if bits == 16:
        codes = w.astype(np.float16)
        scale = np.ones((1, 1), np.float32)
        return Requantized(codes, scale, codes.astype(np.float32), s, 16,
                           ("fp16 rounds to nearest even; the scheme does not apply",))
    if bits not in (8, 4):
        raise ValueError(f"bits must be 8, 4 or 16, got {bits}")
    qmax = 127 if bits == 8 else 7
    rows, k = w.shape
    notes: list[str] = []
    if s.kind == "fixed":
        clamp = np.float32(s.clamp)
        scale = np.full((1, 1), clamp / np.float32(qmax), np.float32)
        clipped = int(np.count_nonzero(np.abs(w) > clamp))
        if clipped:
            notes.append(f"{clipped} values beyond ±{s.clamp:g} were clamped")
        source = np.clip(w, -clamp, clamp)
    else:
        source = w
        a = np.abs(w)
        if s.kind == "per-tensor":
            amax = a.max(initial=0.0).reshape(1, 1)
        elif s.kind in ("per-channel", "per-token"):
            amax = a.max(axis=1, initial=0.0).reshape(rows, 1)
        else:
            g = s.group
            pad = -k % g
            if pad:
                notes.append(f"K = {k} is not a multiple of the group size {g}: the last group is short")
            padded = np.pad(a, ((0, 0), (0, pad)))
            amax = padded.reshape(rows, -1, g).max(axis=2)
        scale = (amax / np.float32(qmax)).astype(np.float32)
        underflow = int(np.count_nonzero((scale == 0) & (amax > 0)))
        if underflow:
            notes.append(f"{underflow} scale(s) underflowed float32 (|w| < {qmax}·1.4e-45): their codes are 0")
        # An all-zero (or underflowing) row or group has no usable range: any scale gives zero codes.
        scale[scale == 0] = np.float32(1.0)
    codes = np.empty((rows, k), dtype=np.int8)
    values = np.empty((rows, k), dtype=np.float32)
    step = max(1, _BLOCK_ELEMENTS // max(1, k))
    # Row blocks keep the float64 temporaries in cache (2x faster than whole-array passes);
    # a loop over blocks of rows, not over elements.
    for start in range(0, rows, step):
        block = slice(start, min(start + step, rows))
        block_scale = scale if scale.shape[0] == 1 else scale[block]
        per_element = expand_scale(block_scale, s, block.stop - block.start, k)
        q = round_half_away(np.divide(source[block], per_element, dtype=np.float64))
        np.clip(q, -qmax, qmax, out=q)
        codes[block] = q
        np.multiply(codes[block], per_element, out=values[block])
    return Requantized(codes, scale, values, s, bits, tuple(notes))
