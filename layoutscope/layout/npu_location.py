"""Where one weight element lands in the NPU's native B buffer.

W has ``ne = [K, N]``: element (row n, col k) of W is B[k][n] of the normal
B = Wᵀ. The native layout (``backend.rknpu2.layout``) tiles B as
(N/subN, K/subK, subN, subK) per K segment, zero-padded, and concatenates the
segments. :func:`locate_native_b` works out the tile coordinates, the element
index and the byte offset of one element without packing anything, so the TUI
can show it for a 7B-sized weight at no cost. ``pack_b`` is the oracle the
tests check it against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from layoutscope.backend.rknpu2.platforms import MATMUL_TYPES, Platform, get_platform

#: Bytes per element of each B input dtype (int4 is half a byte: see ``nibble``).
_ELEMENT_BYTES = {"int8": 1, "fp16": 2}


@dataclass(frozen=True)
class NativeBLocation:
    """One element of W in the native B buffer of a platform and dtype."""

    platform: str
    dtype: str
    k: int
    n: int
    K: int
    N: int
    K_padded: int
    N_padded: int
    segments: tuple[tuple[int, int], ...]
    segment: int
    segment_k_padded: int
    tile_n: int
    tile_k: int
    sub_n: int
    sub_k: int
    in_tile_n: int
    in_tile_k: int
    element_index: int
    byte_offset: int
    nibble: Optional[str]
    buffer_bytes: int

    @property
    def tile_shape(self) -> tuple[int, int]:
        """(subN, subK): the tile holding subN output channels × subK of K."""
        return (self.sub_n, self.sub_k)

    @property
    def segment_tiles(self) -> tuple[int, int, int, int]:
        """The native shape of the element's segment: (N/subN, K/subK, subN, subK)."""
        return (self.N_padded // self.sub_n, self.segment_k_padded // self.sub_k, self.sub_n, self.sub_k)

    def lines(self) -> list[str]:
        """The location as readable lines (the TUI's Layout panel shows them)."""
        seg_start, seg_stop = self.segments[self.segment]
        k_in_seg = self.k - seg_start
        out = [
            f"B = Wᵀ is K×N = {self.K}×{self.N}; element (row {self.n}, col {self.k}) of W is B[{self.k}][{self.n}]",
            f"native B ({self.platform}, {self.dtype}): tiles (N/{self.sub_n}, K/{self.sub_k}, {self.sub_n}, {self.sub_k}), "
            f"padded to K={self.K_padded} N={self.N_padded}",
        ]
        if len(self.segments) > 1:
            spans = ", ".join(f"{a}..{b - 1}" for a, b in self.segments)
            out.append(f"K is split into {len(self.segments)} segments ({spans}); this element is in segment "
                       f"{self.segment} at k {k_in_seg} (sizes beyond the first are UNCERTAIN)")
        else:
            out.append("K fits in one segment")
        out += [
            f"tile [{self.tile_n}][{self.tile_k}] = [n // {self.sub_n}][k // {self.sub_k}], "
            f"cell [{self.in_tile_n}][{self.in_tile_k}] = [n % {self.sub_n}][k % {self.sub_k}]",
            f"element {self.element_index} of the buffer → byte {self.byte_offset}"
            + (f" ({self.nibble} nibble; low-nibble-first is UNCERTAIN on older runtimes)" if self.nibble else "")
            + f" of {self.buffer_bytes}",
        ]
        pad_k, pad_n = self.K_padded - self.K, self.N_padded - self.N
        if pad_k or pad_n:
            out.append(f"padding: {pad_k} zero column(s) of K and {pad_n} zero row(s) of N are added")
        else:
            out.append("padding: none (K and N are already multiples of the tiles)")
        return out


def b_dtype(mm: str) -> str:
    """The B input dtype ("int8", "fp16" or "int4") of a matmul type name such as "int8-fp32"."""
    return MATMUL_TYPES[mm].b_dtype if mm in MATMUL_TYPES else mm


def locate_native_b(platform: "str | Platform", mm: str, K: int, N: int, k: int, n: int) -> NativeBLocation:
    """Locate W's element (row ``n``, col ``k``) in the native B of a K×N matmul.

    ``mm`` is a matmul type (``"int8"``, ``"int4"``, ``"fp16-fp16"``...) or a B
    dtype. Raises ValueError for a platform without that dtype and IndexError
    for an element outside W.
    """
    p = platform if isinstance(platform, Platform) else get_platform(platform)
    d = b_dtype(mm)
    if d not in p.b_tile:
        raise ValueError(f"{p.name} has no {d} matmul inputs (it has {', '.join(p.b_tile)})")
    if not (0 <= k < K and 0 <= n < N):
        raise IndexError(f"element (row {n}, col {k}) is outside W ({N} rows × {K} cols)")
    sub_n, sub_k = p.b_tile[d]
    n_pad = p.padded_n(N, d)
    segments = tuple(p.k_segments(K))
    base = 0
    for index, (start, stop) in enumerate(segments):
        seg_k_pad = p.padded_k(stop - start, d)
        if start <= k < stop:
            break
        base += seg_k_pad * n_pad
    kk = k - start
    tiles_k = seg_k_pad // sub_k
    element = base + (((n // sub_n) * tiles_k + kk // sub_k) * sub_n + n % sub_n) * sub_k + kk % sub_k
    k_padded = sum(p.padded_k(b - a, d) for a, b in segments)
    total = k_padded * n_pad
    if d == "int4":
        byte, nibble, nbytes = element // 2, ("low" if element % 2 == 0 else "high"), total // 2
    else:
        size = _ELEMENT_BYTES[d]
        byte, nibble, nbytes = element * size, None, total * size
    return NativeBLocation(
        platform=p.name, dtype=d, k=k, n=n, K=K, N=N,
        K_padded=k_padded,
        N_padded=n_pad, segments=segments, segment=index, segment_k_padded=seg_k_pad,
        tile_n=n // sub_n, tile_k=kk // sub_k, sub_n=sub_n, sub_k=sub_k,
        in_tile_n=n % sub_n, in_tile_k=kk % sub_k,
        element_index=element, byte_offset=byte, nibble=nibble, buffer_bytes=nbytes,
    )


@dataclass(frozen=True)
class CallLocation:
    """An element located in the NPU call that carries it, as ``npu-sim`` and ``npu`` run the matmul.

    A weight beyond the platform's N or K limit is cut into several calls
    (``backend.rknpu2.plan``); each call gets its own native B. ``native``
    locates the element inside that call's buffer.
    """

    calls: int
    call_index: int
    k_range: tuple[int, int]
    n_range: tuple[int, int]
    plan_notes: tuple
    native: NativeBLocation

    def lines(self) -> list[str]:
        """The call, then the location inside its native B."""
        if self.calls == 1:
            return self.native.lines()
        (k0, k1), (n0, n1) = self.k_range, self.n_range
        out = [f"the matmul runs as {self.calls} NPU calls ({'; '.join(self.plan_notes)})",
               f"this element is in call {self.call_index}: K {k0}..{k1 - 1} × N {n0}..{n1 - 1}, "
               f"where it is (row {self.native.n}, col {self.native.k}) of that call's W"]
        return out + self.native.lines()


def locate_in_calls(platform: "str | Platform", mm: str, K: int, N: int, k: int, n: int,
                    group: Optional[int] = None) -> CallLocation:
    """Locate W's element (row ``n``, col ``k``) in the call and native B the NPU backends really use."""
    from layoutscope.backend.rknpu2.plan import plan_matmul

    p = platform if isinstance(platform, Platform) else get_platform(platform)
    d = b_dtype(mm)
    name = mm if mm in MATMUL_TYPES else next(t.name for t in MATMUL_TYPES.values() if t.b_dtype == d)
    if not (0 <= k < K and 0 <= n < N):
        raise IndexError(f"element (row {n}, col {k}) is outside W ({N} rows × {K} cols)")
    if d not in p.b_tile:
        raise ValueError(f"{p.name} has no {d} matmul inputs (it has {', '.join(p.b_tile)})")
    plan = plan_matmul(p, name, 1, K, N, group)
    index, call = next((i, c) for i, c in enumerate(plan.calls) if c.k0 <= k < c.k1 and c.n0 <= n < c.n1)
    native = locate_native_b(p, mm, call.k, call.n, k - call.k0, n - call.n0)
    return CallLocation(calls=len(plan.calls), call_index=index, k_range=(call.k0, call.k1),
                        n_range=(call.n0, call.n1), plan_notes=plan.notes, native=native)
