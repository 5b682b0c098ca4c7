"""Memory a request needs, checked against what the machine has before anything is allocated.

A request whose size is known up front (``--rows 10000000`` random rows, a
.npy of that many rows) is refused in one line when it needs more than the
available memory, instead of swapping for minutes or being killed, and warned
about when it needs more than half. The figures are lower bounds: what the
arrays themselves take, not the temporaries around them.

Available memory is ``MemAvailable`` from ``/proc/meminfo``; where that is
unknown nothing is checked. ``LAYOUTSCOPE_MEMORY_LIMIT`` (bytes, or with K, M,
G or T) replaces it, so a test can prove a refusal with a small request.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

from layoutscope.errors import ResourceError
from layoutscope.measure.settings import memory_limit_from_env

LIMIT_ENV = "LAYOUTSCOPE_MEMORY_LIMIT"
MEMINFO = "/proc/meminfo"


def _print_warning(text: str) -> None:
    print(f"layoutscope: warning: {text}", file=sys.stderr, flush=True)


#: Where warnings go: one stderr line by default; a UI can replace it.
on_warning: Callable[[str], None] = _print_warning


def available() -> Optional[int]:
    """Bytes of memory a request may use: ``LAYOUTSCOPE_MEMORY_LIMIT``, else MemAvailable, else None (unknown)."""
    limit = memory_limit_from_env(LIMIT_ENV)
    if limit is not None:
        return limit
    try:
        with open(MEMINFO, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def human(n: float) -> str:
    """``2147483648`` → ``2.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def matmul_bytes(m: int, k: int, n: Optional[int] = None, x_bytes: int = 4) -> int:
    """A lower bound of what one comparison of M rows holds: X (``x_bytes`` per element; 12 for random X,
    drawn in float64 and kept in float32) and, when N is known, the reference Y, the NPU's int32
    accumulator and its Y (4 bytes per element each)."""
    return m * k * x_bytes + (12 * m * n if n else 0)


def require(nbytes: int, what: str, fix: str) -> None:
    """Refuse ``what`` (ResourceError, exit 1) when it needs more than the available memory; warn over half.

    ``what`` names the request (``--rows 100000: random X of 100000×4096``); ``fix`` says what to do instead.
    """
    free = available()
    if free is None:
        return
    if nbytes > free:
        raise ResourceError(f"{what}: at least {human(nbytes)} of memory, more than the {human(free)} available; {fix}")
    if nbytes > free // 2:
        on_warning(f"{what}: at least {human(nbytes)} of memory, over half of the {human(free)} available")
