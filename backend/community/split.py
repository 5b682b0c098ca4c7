"""How the backend cuts one matmul: K segments, one N segment per core, and the padded M.

All three follow ORG's ``graph_compute`` (fact sheet §1) with C integer
division. The split does not change the numbers except through the INT4
weight scale, which is one per (K segment, N segment) block, and through
the per-(row, K segment) activation scales.
"""

from __future__ import annotations

from .pipelines import K_ALIGN


def next_pow2(n: int) -> int:
    """The smallest power of two ≥ ``n`` (1 for n ≤ 1)."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def k_segments(k_op: int, k_limit: int) -> list[int]:
    """Segment lengths along K: one when ``k_op`` fits ``k_limit``, else chunks of it (a multiple of 32) and the rest."""
    if k_op <= k_limit:
        return [k_op]
    chunk = k_limit // K_ALIGN * K_ALIGN
    full, rest = divmod(k_op, chunk)
    return [chunk] * full + ([rest] if rest else [])


def n_segments(n: int, cores: int, align: int) -> list[int]:
    """Segment lengths along N, one per core: equal multiples of ``align``, the first ones one ``align`` longer.

    Empty segments are dropped (a small N uses fewer cores). The backend
    only takes N that is a multiple of ``align``; for any other N (a "what
    if" the emulator allows) the columns left over form one more segment.
    """
    base = n // cores // align * align
    extra = n - base * cores
    sizes = [s for s in (base + (align if i < extra // align else 0) for i in range(cores)) if s > 0]
    left = n - sum(sizes)
    return sizes + [left] if left > 0 else sizes


def m_op(m: int, align: int = 64) -> int:
    """Rows of the NPU's A buffer for ``m`` tokens: 1 for one token, else a multiple of ``align`` (next power of two if ``align`` ≤ 0).

    The padding rows are never read back, so the numbers do not depend on it.
    """
    if m == 1:
        return 1
    if align <= 0:
        return next_pow2(m)
    return -(-m // align) * align


def offsets(sizes: list[int]) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of consecutive segments of ``sizes``."""
    out, start = [], 0
    for size in sizes:
        out.append((start, start + size))
        start += size
    return out


#: The SoCs the backend defines: (max K per segment, default cores). RK3576 is in INV c9b63b83 and Dts0 only.
SOCS = {"rk3588": (8192, (0, 1, 2)), "rk3576": (4096, (0, 1))}


def soc(platform: str) -> tuple[int, tuple[int, ...]]:
    """``(k_limit, cores)`` of ``platform``; ValueError for a SoC the backend does not define."""
    key = str(platform).strip().lower()
    if key not in SOCS:
        raise ValueError(f"the community backend defines {' and '.join(SOCS)} only, not {platform!r}")
    return SOCS[key]


def parse_cores(text: "str | tuple | list | None", default: tuple[int, ...]) -> tuple[int, ...]:
    """``RKNPU_CORES``: a comma list with ranges ("0,1,2", "0-2"), sorted and de-duplicated; empty or auto → ``default``."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "auto")):
        return tuple(default)
    if not isinstance(text, str):
        cores = {int(c) for c in text}
    else:
        cores = set()
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                raise ValueError(f"cores {text!r}: a comma list of core ids or ranges, e.g. 0,1,2 or 0-2")
            cores.update(range(int(first), int(last if dash else first) + 1))
    if not cores or min(cores) < 0:
        raise ValueError(f"cores {text!r}: give one or more core ids from 0 up")
    return tuple(sorted(cores))
