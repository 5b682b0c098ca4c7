"""How many threads decode large tensors: ``LAYOUTSCOPE_THREADS``, validated, or the CPU count.

The dequantize pool (:mod:`layoutscope.formats._kernel`) reads it when the
registry loads; the CLI checks it first, so a bad value is one line before
any work instead of an error at import.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from layoutscope.errors import UsageError, quoted

#: The environment variable that sets the thread count.
THREADS_ENV = "LAYOUTSCOPE_THREADS"
#: The largest count accepted, and the most the pool uses (more threads than this only contend).
MAX_THREADS, POOL_LIMIT = 1024, 16


def threads_from_env(name: str = THREADS_ENV) -> Optional[int]:
    """The thread count ``name`` asks for, None when unset; anything but a whole number 1..1024 is a UsageError."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    digits = text.strip()
    if not re.fullmatch(r"[0-9]{1,5}", digits) or not 1 <= int(digits) <= MAX_THREADS:
        raise UsageError(f"{name} {quoted(text)}: expected a whole number from 1 to {MAX_THREADS}, e.g. {name}=2")
    return int(digits)


def pool_threads() -> int:
    """Threads for large dequantizations: ``LAYOUTSCOPE_THREADS`` (at most 16), else the CPUs (at most 8)."""
    configured = threads_from_env()
    if configured is not None:
        return min(configured, POOL_LIMIT)
    return max(1, min(os.cpu_count() or 1, 8))
