"""VerdictStore: each tensor's latest verdict, filled by matmuls now and by scans later.

The TUI colours its tensor tree from it and ``n`` / ``N`` walk to the next
tensor that is worse than the threshold. It holds plain data only (no arrays,
no UI), so a scan can fill it from a worker's results.

Every entry remembers the settings that made it (a fingerprint, see
``RunSettings.fingerprint``). Asked with the current fingerprint, the
store treats entries made under other settings as *stale*: they are kept (and
count again if the settings come back) but never walked to by ``n`` / ``N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from layoutscope.measure.bands import DEFAULT_BANDS, VERDICTS, verdict


@dataclass(frozen=True)
class VerdictEntry:
    """The last comparison of one tensor: where it came from and how far off it was."""

    tensor: str
    verdict: str
    nmse: float
    source: str = "matmul"
    summary: str = ""
    mismatched: int = 0
    settings: tuple = ()

    def is_current(self, fingerprint: Optional[tuple]) -> bool:
        """True when made under ``fingerprint`` (None: any settings count)."""
        return fingerprint is None or self.settings == fingerprint


class VerdictStore:
    """Tensor name → its latest :class:`VerdictEntry`."""

    def __init__(self) -> None:
        self._entries: dict[str, VerdictEntry] = {}

    def record(self, tensor: str, nmse: float, source: str = "matmul", summary: str = "",
               bands: tuple[float, float] = DEFAULT_BANDS, mismatched: int = 0,
               settings: tuple = ()) -> VerdictEntry:
        """Store (replacing) the verdict of ``tensor`` from an NMSE and its count of non-finite mismatches,
        made under ``settings`` (a fingerprint)."""
        entry = VerdictEntry(tensor, verdict(nmse, bands, mismatched), float(nmse), source, summary, mismatched,
                             tuple(settings))
        self._entries[tensor] = entry
        return entry

    def get(self, tensor: str) -> Optional[VerdictEntry]:
        """The latest entry of ``tensor``, or None when it was never compared."""
        return self._entries.get(tensor)

    def __contains__(self, tensor: object) -> bool:
        return tensor in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def is_worse(self, tensor: str, threshold: float, fingerprint: Optional[tuple] = None) -> bool:
        """True when ``tensor``'s last NMSE is above ``threshold`` (NaN, and a non-finite mismatch, count as worse).

        With a ``fingerprint``, an entry made under other settings is stale and never worse.
        """
        entry = self._entries.get(tensor)
        return (entry is not None and entry.is_current(fingerprint)
                and (bool(entry.mismatched) or not entry.nmse <= threshold))

    def stale(self, fingerprint: tuple) -> list[str]:
        """Tensors whose entry was made under settings other than ``fingerprint``."""
        return [name for name, e in self._entries.items() if not e.is_current(fingerprint)]

    def counts(self) -> dict[str, int]:
        """How many tensors have each verdict."""
        out = dict.fromkeys(VERDICTS, 0)
        for e in self._entries.values():
            out[e.verdict] = out.get(e.verdict, 0) + 1
        return out

    def next_worse(self, order: Sequence[str], current: Optional[str], threshold: float,
                   step: int = 1, fingerprint: Optional[tuple] = None) -> Optional[str]:
        """The next tensor after ``current`` in ``order`` (wrapping) that is worse than ``threshold``.

        ``step`` is +1 (forward) or -1 (backward). ``current`` itself is found
        only after a full lap, so a single bad tensor is still reported. With a
        ``fingerprint``, stale entries are skipped.
        """
        if not order:
            return None
        start = order.index(current) if current in order else (-1 if step > 0 else 0)
        for i in range(1, len(order) + 1):
            name = order[(start + step * i) % len(order)]
            if self.is_worse(name, threshold, fingerprint):
                return name
        return None

    def names(self) -> Iterable[str]:
        """Every tensor with an entry."""
        return iter(self._entries)
