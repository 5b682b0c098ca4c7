"""How one Y = X @ Wᵀ is cut into NPU matmul calls that fit a platform's limits.

The RKNPU2 matmul API takes N up to 4096 (int8/fp16) or 8192 (int4) per
call, and K up to 10240 on RK356x. RK3588 and RK3576 accept larger K only
through a K-segmented native B whose segment sizes are undocumented
(UNCERTAIN). So layoutscope does what the community backends do on the
board: it splits N into column blocks (one call each, the way per-core
contexts split N) and K into segments whose partial products are summed on
the CPU. ``npu-sim`` and ``npu`` run the same plan, so the emulator predicts
exactly what the board computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import lcm
from typing import Optional

from .platforms import MATMUL_TYPES, Platform


@dataclass(frozen=True)
class Call:
    """One NPU matmul of all M rows: K columns ``[k0, k1)`` of X, output columns ``[n0, n1)``."""

    m: int
    k0: int
    k1: int
    n0: int
    n1: int

    @property
    def k(self) -> int:
        """K of this call (before padding)."""
        return self.k1 - self.k0

    @property
    def n(self) -> int:
        """N of this call (before padding)."""
        return self.n1 - self.n0


@dataclass(frozen=True)
class Plan:
    """The calls of one matmul, and why it was split."""

    M: int
    K: int
    N: int
    k_chunk: int
    n_chunk: int
    calls: tuple
    notes: tuple = field(default=())

    @property
    def k_splits(self) -> int:
        """How many K segments (partial products summed on the CPU)."""
        return len({(c.k0, c.k1) for c in self.calls})

    @property
    def n_splits(self) -> int:
        """How many N column blocks."""
        return len({(c.n0, c.n1) for c in self.calls})


def k_limit(platform: Platform) -> Optional[int]:
    """The largest K one call takes without K-segmented B (None: unlimited)."""
    return platform.k_segment or platform.k_max


def plan_matmul(platform: Platform, mm: str, M: int, K: int, N: int, group: Optional[int] = None) -> Plan:
    """Split (M, K, N) into calls within ``platform``'s limits for matmul type ``mm``.

    K segments are whole multiples of the alignment (and of ``group`` for
    per-group weights), so no tile or scale group straddles two calls.
    """
    t = MATMUL_TYPES[mm]
    d = t.b_dtype
    notes = []
    k_unit = lcm(platform.k_align[d], platform.a_sub_k[d], platform.b_tile[d][1], group or 1)
    limit = k_limit(platform)
    k_chunk = K if limit is None or K <= limit else (limit // k_unit) * k_unit
    if k_chunk < K:
        parts = -(-K // k_chunk)
        why = ("B needs the runtime's K-segmented layout above that, whose segment sizes are undocumented (UNCERTAIN)"
               if platform.k_segment else "the runtime rejects larger K")
        notes.append(
            f"K = {K} > {limit} on {platform.name}: {why}; split into {parts} K segments of ≤ {k_chunk} "
            "whose partial products are summed on the CPU, as community RKNPU2 backends do"
        )
    n_max = platform.n_max[d]
    n_unit = lcm(platform.n_align[d], platform.b_tile[d][0])
    n_chunk = N if N <= n_max else (n_max // n_unit) * n_unit
    if n_chunk < N:
        notes.append(
            f"N = {N} > {n_max}, the {platform.name} limit for {d} B (user guide; UNCERTAIN on the board): "
            f"split into {-(-N // n_chunk)} calls of ≤ {n_chunk} output columns, as backends split N across contexts"
        )
    calls = tuple(
        Call(M, k0, min(k0 + k_chunk, K), n0, min(n0 + n_chunk, N))
        for n0 in range(0, N, n_chunk)
        for k0 in range(0, K, k_chunk)
    )
    return Plan(M=M, K=K, N=N, k_chunk=k_chunk, n_chunk=n_chunk, calls=calls, notes=tuple(notes))
