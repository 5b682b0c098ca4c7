"""The verdict bands: an NMSE judged ok, degraded or broken, and ``--fail-on``.

ok ≤ 5e-4 (ggml's own mul_mat tolerance) < degraded ≤ 1e-2 < broken; any
non-finite mismatch is broken. Plain Python, so what only shows or stores
verdicts (the TUI's tree, :mod:`~layoutscope.measure.verdicts`) loads
without numpy; :mod:`~layoutscope.measure.metrics` computes the NMSE and
re-exports these names.
"""

from __future__ import annotations

#: Default verdict bands on NMSE: (ok_max, degraded_max).
DEFAULT_BANDS = (5e-4, 1e-2)
VERDICTS = ("ok", "degraded", "broken")


def verdict(nmse: float, bands: tuple[float, float] = DEFAULT_BANDS, mismatched: int = 0) -> str:
    """``ok``, ``degraded`` or ``broken`` for an NMSE (NaN is broken, and so is any non-finite mismatch)."""
    ok_max, degraded_max = bands
    if mismatched:
        return "broken"
    if nmse <= ok_max:
        return "ok"
    if nmse <= degraded_max:
        return "degraded"
    return "broken"


def fails(verdict: str, fail_on: "str | None") -> bool:
    """True when ``verdict`` is ``fail_on`` or worse (``--fail-on``); never when ``fail_on`` is None."""
    return fail_on is not None and VERDICTS.index(verdict) >= VERDICTS.index(fail_on)
