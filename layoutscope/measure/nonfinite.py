"""Non-finite values (NaN, ±inf) as findings: which array, how many, and where the first one is.

A NaN in a weight, an input or an output is something the user must be told
about, never a numpy warning. :func:`find_nonfinite` looks at one array;
:class:`NonFiniteTally` adds up pieces of a large one (blocks of rows) that
were only inspected because a cheap check (a non-finite sum) said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class NonFinite:
    """``count`` of the ``size`` values of array ``what`` are NaN or ±inf; ``first`` is the first one's index."""

    what: str
    count: int
    size: int
    nan: int
    posinf: int
    neginf: int
    first: tuple
    axes: tuple = ()

    @property
    def first_text(self) -> str:
        """The first position, with the axis names when known: ``"m 0, n 5"``."""
        if self.axes and len(self.axes) == len(self.first):
            return ", ".join(f"{a} {i}" for a, i in zip(self.axes, self.first))
        return "[" + ", ".join(map(str, self.first)) + "]"

    def text(self) -> str:
        """One line: ``W (dequantized): 2 of 8192 values are not finite (1 NaN, 1 +inf), the first at n 3, k 5``."""
        kinds = ", ".join(f"{n} {label}" for n, label in ((self.nan, "NaN"), (self.posinf, "+inf"),
                                                          (self.neginf, "-inf")) if n)
        return (f"{self.what}: {self.count} of {self.size} values are not finite ({kinds}), "
                f"the first at {self.first_text}")

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"array": self.what, "count": self.count, "size": self.size, "nan": self.nan,
                "posinf": self.posinf, "neginf": self.neginf, "first": list(self.first),
                "axes": list(self.axes), "text": self.text()}


class NonFiniteTally:
    """Counts non-finite values over pieces of one array, fed in order (blocks of rows)."""

    def __init__(self) -> None:
        self.size = self.count = self.nan = self.posinf = self.neginf = 0
        self.first: Optional[tuple] = None

    def add_finite(self, size: int) -> None:
        """A piece already known to be finite (a finite sum said so): only its size counts."""
        self.size += int(size)

    def add(self, piece: np.ndarray, first_row: int = 0) -> None:
        """Inspect ``piece`` (its rows start at ``first_row`` of the whole array)."""
        piece = np.asarray(piece)
        self.size += piece.size
        if piece.dtype.kind not in "fc":
            return
        bad = ~np.isfinite(piece)
        n = int(np.count_nonzero(bad))
        if not n:
            return
        nan = int(np.count_nonzero(np.isnan(piece)))
        posinf = int(np.count_nonzero(piece == np.inf))
        self.count += n
        self.nan += nan
        self.posinf += posinf
        self.neginf += n - nan - posinf
        if self.first is None:
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), piece.shape))
            self.first = (index[0] + first_row, *index[1:]) if index else ()

    def finding(self, what: str, axes: Sequence[str] = ()) -> Optional[NonFinite]:
        """The :class:`NonFinite` of everything added, or None when every value was finite."""
        if not self.count:
            return None
        return NonFinite(what, self.count, self.size, self.nan, self.posinf, self.neginf, self.first or (),
                         tuple(axes))


def find_nonfinite(array, what: str, axes: Sequence[str] = ()) -> Optional[NonFinite]:
    """The :class:`NonFinite` of ``array`` (None when it is all finite, or not floating point)."""
    tally = NonFiniteTally()
    tally.add(np.asarray(array))
    return tally.finding(what, axes)


__all__ = ["NonFinite", "NonFiniteTally", "find_nonfinite"]
