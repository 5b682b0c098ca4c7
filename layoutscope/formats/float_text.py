"""The shortest text that reads back as the same float32: for one value, and for many at once.

:func:`shortest_text` tries ``'%.{d}g'`` for d = 1..9 and keeps the first text
that reads back (through float64) as the same float32. Every worked example of
a format's anatomy, ``dump`` and the layout views print values this way.

:func:`shortest_texts` gives the same bytes for a whole array, a few times
faster. Formatting and parsing stay exactly those Python operations; what is
vectorised is the choice of d. A numpy estimate proposes d for every value,
then two exact checks confirm it: d round-trips and d - 1 does not.

That d - 1 failing proves every shorter d fails too, because the set of reals
that read back as x is an interval, symmetric about x: the correctly rounded
j-digit text is also a (j+1)-digit text, so the (j+1)-digit one is at least as
close to x. Symmetry fails where x is a power of two (the gap below is half
the gap above), and the float64 step can shift the interval's ends only for
decimals within 2**-53 of a float32 midpoint, which needs |x| < 1e-4 or
|x| >= 1e15 (an integer argument on D·10**p against M·2**q). Those values,
and any whose estimate was too long, are searched from d = 1 like
:func:`shortest_text`.

The CLI and the TUI reach these through :mod:`layoutscope.report.numbers`.
"""

from __future__ import annotations

import numpy as np

#: Below and above these magnitudes a value is searched from one digit (see the module docstring).
SAFE_MIN, SAFE_MAX = 1e-4, 1e15
#: '%.9g' always reads back as the same float32: the search stops there.
MAX_DIGITS = 9


def shortest_text(x: float) -> str:
    """``x`` as a float32, in the fewest significant digits that read back as the same float32.

    ``0.1``, ``-0``, ``3e-07``, ``1.17549435e-38``; ``inf``, ``-inf`` and ``nan`` spelled out.
    """
    f32 = np.float32(x)
    if not np.isfinite(f32):
        return str(float(f32))
    for digits in range(1, MAX_DIGITS + 1):
        text = f"{float(f32):.{digits}g}"
        with np.errstate(over="ignore"):  # near float32's max a short text reads back as inf: no round trip
            if np.float32(float(text)) == f32:
                return text
    return repr(float(f32))


def shortest_texts(values: np.ndarray) -> list[str]:
    """``[shortest_text(v) for v in values.ravel()]``, computed a few times faster."""
    x = np.ascontiguousarray(values, dtype=np.float32).ravel()
    texts = np.empty(x.size, object)
    finite = np.isfinite(x)
    texts[~finite] = [str(float(v)) for v in x[~finite].tolist()]
    index = np.flatnonzero(finite)
    if not index.size:
        return texts.tolist()
    xs = x[index]
    x64 = xs.astype(np.float64)
    magnitude = np.abs(x64)
    power_of_two = (xs.view(np.uint32) & 0x007FFFFF) == 0
    searched = (magnitude < SAFE_MIN) | (magnitude >= SAFE_MAX) | power_of_two
    guess, proven = _estimate_digits(x64, xs, magnitude)

    # Confirm each estimate d: d - 1 fails (proven by numpy, else checked exactly), then d, d + 1, ... is tried.
    todo = np.flatnonzero(~searched)
    check = todo[~proven[todo]]
    _, shorter = _round_trip(x64, xs, check, guess[check] - 1)
    too_long = check[shorter]
    if too_long.size:
        todo = np.setdiff1d(todo, too_long, assume_unique=True)
    _settle(x64, xs, todo, guess[todo], index, texts)
    # Everything else: the same search as shortest_text, from one digit up.
    rest = np.union1d(np.flatnonzero(searched), too_long)
    _settle(x64, xs, rest, np.ones(rest.size, np.int64), index, texts)
    return texts.tolist()


def _settle(x64, x32, todo: np.ndarray, digits: np.ndarray, index: np.ndarray, texts: np.ndarray) -> None:
    """Write into ``texts`` the first of ``digits``, ``digits + 1``, ... that round-trips, per value."""
    while todo.size:
        found, ok = _round_trip(x64, x32, todo, digits)
        texts[index[todo[ok]]] = np.array(found, object)[ok]
        todo, digits = todo[~ok], digits[~ok] + 1
        beyond = digits > MAX_DIGITS
        # shortest_text's last resort, never reached for float32: repr.
        texts[index[todo[beyond]]] = [repr(v) for v in x64[todo[beyond]].tolist()]
        todo, digits = todo[~beyond], digits[~beyond]


def _round_trip(x64: np.ndarray, x32: np.ndarray, positions: np.ndarray, digits: np.ndarray):
    """The ``'%.{d}g'`` texts of ``x64[positions]`` and whether each reads back as its float32."""
    if not positions.size:
        return [], np.zeros(0, bool)
    texts = ["%.*g" % pair for pair in zip(digits.tolist(), x64[positions].tolist())]
    with np.errstate(over="ignore"):  # '3.5e+38' reads back as inf: simply not a round trip
        back = np.fromiter(map(float, texts), np.float64, count=len(texts)).astype(np.float32)
    return texts, back == x32[positions]


def _estimate_digits(x64: np.ndarray, x32: np.ndarray, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(d, proven)``: a float64 estimate of each value's shortest digit count, and whether d - 1 is
    proven not to round-trip (or d is 1).

    The proof: the nearest (d-1)-digit decimal lies farther from x than half x's float32 spacing by a
    margin (1e-12 relative) far above float64's error, and x is not within 1e-9 of a power of ten (so
    the decimal exponent from log10 is the true one). Only meaningful where the interval of reals that
    read back as x is symmetric, which the caller ensures.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponent = np.floor(np.log10(np.where(magnitude > 0, magnitude, 1.0)))
        ratio = magnitude / 10.0**exponent
        exponent_sure = (ratio > 1 + 1e-9) & (ratio < 10 * (1 - 1e-9))
        half_spacing = np.abs(np.spacing(x32).astype(np.float64)) / 2
        guess = np.full(x64.size, MAX_DIGITS, np.int64)
        proven = np.zeros(x64.size, bool)
        open_ = np.ones(x64.size, bool)
        previous_distance = np.zeros(x64.size)
        for d in range(1, MAX_DIGITS + 1):
            step = 10.0 ** (exponent - (d - 1))
            units = x64 / step
            nearest = np.round(units)
            hit = open_ & ((nearest * step).astype(np.float32) == x32)
            guess[hit] = d
            proven[hit] = (d == 1) | (exponent_sure[hit] & (previous_distance[hit] > half_spacing[hit] + 1e-12 * magnitude[hit]))
            open_ &= ~hit
            previous_distance = np.abs(units - nearest) * step
    return guess, proven
