"""The legacy 32-element block types and their small cousins.

Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, the activation-only Q8_1, and the newer
one-scale formats Q1_0 (128 sign bits) and Q2_0 (64 two-bit codes). Every
block is an fp16 scale (plus, for the ``_1`` variants, an fp16 offset)
followed by packed integer codes.

This module also holds :func:`run_kernel`, the chunked (and, for large
inputs, multi-threaded) driver every family module uses for dequantization.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ._common import fmt, fp16_column, hex_bytes, read_fp16
from .record import BitSource, ElementAnatomy, Field, GGMLType, Term

#: A dequantization kernel: ``(blocks, out)`` with ``blocks`` a C-contiguous
#: uint8 ``(k, type_size)`` chunk and ``out`` the float32 ``(k, block_size)``
#: rows to fill.
Kernel = Callable[[np.ndarray, np.ndarray], None]

# ~512 K elements (2 MiB of float32) per chunk: a kernel's passes over its
# output mostly hit cache, and per-call overhead stays small (measured).
_CHUNK_ELEMENTS = 1 << 19


def _thread_count() -> int:
    configured = os.environ.get("LAYOUTSCOPE_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return min(int(configured), 16)
    return max(1, min(os.cpu_count() or 1, 8))


#: Threads used for large dequantizations (``LAYOUTSCOPE_THREADS`` overrides).
THREADS = _thread_count()

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()


def _forget_pool() -> None:
    # A forked child inherits the pool object but not its threads.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=THREADS - 1,
                thread_name_prefix="layoutscope-dequant",
                initializer=lambda: setattr(_in_worker, "active", True),
            )
        return _pool


def run_kernel(blocks: np.ndarray, block_size: int, kernel: Kernel) -> np.ndarray:
    """Dequantize ``blocks`` (uint8 ``(n, type_size)``) with ``kernel``, in cache-sized chunks."""
    n = blocks.shape[0]
    out = np.empty((n, block_size), dtype=np.float32)
    if n == 0:
        return out
    step = max(1, _CHUNK_ELEMENTS // block_size)
    starts = list(range(0, n, step))

    def work(first: int, last: int) -> None:
        # Garbage blocks legitimately decode to inf/NaN, as they do in ggml.
        with np.errstate(all="ignore"):
            for s in starts[first:last]:
                chunk = blocks[s : s + step]
                if not chunk.flags.c_contiguous:
                    chunk = np.ascontiguousarray(chunk)
                kernel(chunk, out[s : s + step])

    # numpy releases the GIL inside its loops, so large inputs split their
    # chunks between the caller and a small pool: ggml's to_float is plain C,
    # and one numpy thread reaches only about half its speed.
    workers = min(THREADS, len(starts) // 2)
    # A worker thread that dequantizes must not wait on its own pool.
    if workers <= 1 or getattr(_in_worker, "active", False):
        work(0, len(starts))
        return out
    bounds = [len(starts) * w // workers for w in range(workers + 1)]
    pool = _get_pool()
    futures = [pool.submit(work, bounds[w], bounds[w + 1]) for w in range(1, workers)]
    try:
        work(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()
    return out


_scratch = threading.local()


def scratch(slot: str, shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    """A per-thread reusable temporary of ``shape``: contents undefined, valid until the next call for ``slot``."""
    # A fresh array per chunk costs page faults that, on small pages,
    # outweigh the arithmetic of a whole kernel.
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    buf = buffers.get(slot)
    if buf is None or buf.size < nbytes:
        buf = buffers[slot] = np.empty(max(nbytes, 64), dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def block_dequantizer(block_size: int, kernel: Kernel):
    """A record ``dequantizer`` running ``kernel`` over blocks; the byte order is ignored."""

    def dequantize(blocks: np.ndarray, byteorder: str = "<") -> np.ndarray:
        # Quantized payloads are little-endian even in big-endian files.
        return run_kernel(blocks, block_size, kernel)

    dequantize.__name__ = f"dequantize_{kernel.__name__.strip('_')}"
    return dequantize


def half_column(blocks: np.ndarray, offset: int) -> np.ndarray:
    """The fp16 at ``offset`` of every block of a C-contiguous chunk, float32 (k, 1)."""
    if blocks.shape[1] % 2 == 0 and offset % 2 == 0:
        # A strided fp16 view avoids copying the column first.
        return blocks.view("<f2")[:, offset // 2, None].astype(np.float32)
    return fp16_column(blocks, offset)


def nibble_planes(blocks: np.ndarray) -> np.ndarray:
    """Low and high nibbles of every byte of a C-contiguous chunk: uint8 (2, k, type_size)."""
    flat = blocks.reshape(-1)
    planes = scratch("planes", (2, flat.size))
    # Whole-chunk flat passes (scale bytes included, ignored later) are far
    # cheaper than per-row passes over the 16-byte code fields.
    np.bitwise_and(flat, 0x0F, out=planes[0])
    np.right_shift(flat, 4, out=planes[1])
    return planes.reshape(2, *blocks.shape)


def quiet(anatomist):
    """Wrap an anatomist so that inf/NaN arithmetic on odd blocks raises no warnings."""

    @functools.wraps(anatomist)
    def explain(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
        with np.errstate(all="ignore"):
            return anatomist(block, element, byteorder)

    return explain


def move_runs(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy byte array ``src`` into ``dst`` (same shape, both last axes contiguous)."""
    # Each last-axis run viewed as one ``V<n>`` item lets numpy loop over the
    # long axes instead of making one call per short run: re-ordering copies
    # become cheap.
    width = dst.shape[-1]
    np.copyto(dst.view(f"V{width}")[..., 0], src.view(f"V{width}")[..., 0])


def half_term(block: bytes, offset: int, name: str, meaning: str) -> tuple[np.float32, Term]:
    """An fp16 field of one block as (value, Term) for an anatomy."""
    value = read_fp16(block, offset)
    source = f"{meaning}, fp16 @{offset}..{offset + 1} = {hex_bytes(block, offset, 2)}"
    return value, Term(name, float(value), source, byte=offset, size=2)


def plus(x: float) -> str:
    """``+ 0.5`` or ``- 0.5``: a float32 as the right operand of an addition."""
    text = fmt(x)
    return f"- {text[1:]}" if text.startswith("-") else f"+ {text}"


def nibble_source(field: str, field_offset: int, index: int, high: bool) -> BitSource:
    """The BitSource for the low or high nibble of ``field[index]``."""
    half = "high" if high else "low"
    return BitSource(field, field_offset + index, (4, 7) if high else (0, 3), f"{half} nibble of {field}[{index}]")


def _nibble_of(block: bytes, field_offset: int, element: int, half: int) -> tuple[int, int, bool]:
    """(code, byte index in field, is_high) of ``element`` in a Q4_0-order nibble field of ``half`` bytes."""
    index = element % half
    high = element >= half
    byte = block[field_offset + index]
    return (byte >> 4) if high else (byte & 0x0F), index, high


# --- Q4_0 / Q4_1 -------------------------------------------------------------


def _q4_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    planes = nibble_planes(blocks)
    planes -= 8  # wraps to the int8 bit pattern of q − 8
    codes = planes.view(np.int8)
    np.copyto(out[:, :16], codes[0, :, 2:], casting="unsafe")
    np.copyto(out[:, 16:], codes[1, :, 2:], casting="unsafe")
    out *= d


def _q4_1_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    m = half_column(blocks, 2)
    planes = nibble_planes(blocks)
    np.copyto(out[:, :16], planes[0, :, 4:], casting="unsafe")
    np.copyto(out[:, 16:], planes[1, :, 4:], casting="unsafe")
    # d·q is exact in float32 (11-bit d times a 4-bit q), so ggml's order
    # d·q + m gives the same bits whether or not its compiler fused it.
    out *= d
    out += m


def _q4_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    q, index, high = _nibble_of(block, 2, element, 16)
    source = nibble_source("qs", 2, index, high)
    value = np.float32(q - 8) * d
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("q", q, source.role, byte=source.byte, size=1)),
        formula="x = d·(q − 8)",
        worked=f"x = {fmt(d)}·({q} − 8) = {fmt(value)}",
        value=float(value),
    )


def _q4_1_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    m, m_term = half_term(block, 2, "m", "block minimum")
    q, index, high = _nibble_of(block, 4, element, 16)
    source = nibble_source("qs", 4, index, high)
    value = np.float32(q) * d + m
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, m_term, Term("q", q, source.role, byte=source.byte, size=1)),
        formula="x = d·q + m",
        worked=f"x = {fmt(d)}·{q} {plus(m)} = {fmt(value)}",
        value=float(value),
    )


# --- Q5_0 / Q5_1 -------------------------------------------------------------


def _q5_codes(blocks: np.ndarray, qh_offset: int) -> np.ndarray:
    """5-bit codes q (uint8 (k, 32)) of a Q5_0/Q5_1 chunk."""
    # Little bit order over the 4 qh bytes is bit j of the little-endian u32.
    high = np.unpackbits(blocks[:, qh_offset : qh_offset + 4], axis=1, bitorder="little")
    high *= 16  # numpy's uint8 multiply is vectorised, its left shift is not
    planes = nibble_planes(blocks)
    qs = qh_offset + 4
    codes = scratch("codes", high.shape)
    # Re-ordering copies, then whole-array passes: cheaper than per-row ORs.
    move_runs(codes[:, :16], planes[0, :, qs:])
    move_runs(codes[:, 16:], planes[1, :, qs:])
    codes |= high
    return codes


def _q5_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    codes = _q5_codes(blocks, 2)
    codes -= 16  # wraps to the int8 bit pattern of q − 16
    np.copyto(out, codes.view(np.int8), casting="unsafe")
    out *= d


def _q5_1_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    m = half_column(blocks, 2)
    np.copyto(out, _q5_codes(blocks, 4), casting="unsafe")
    out *= d  # exact, as in Q4_1
    out += m


def _q5_parts(block: bytes, element: int, qh_offset: int) -> tuple[int, int, int, tuple[BitSource, BitSource]]:
    qs_offset = qh_offset + 4
    nibble, index, high = _nibble_of(block, qs_offset, element, 16)
    qh = int.from_bytes(block[qh_offset : qh_offset + 4], "little")
    bit = (qh >> element) & 1
    sources = (
        nibble_source("qs", qs_offset, index, high),
        BitSource(
            "qh",
            qh_offset + element // 8,
            (element % 8, element % 8),
            f"5th bit (qh bit {element} = bit {element % 8} of qh[{element // 8}])",
        ),
    )
    return nibble, bit, nibble | (bit << 4), sources


def _q5_terms(nibble: int, bit: int, q: int, sources) -> tuple[Term, ...]:
    return (
        Term("n", nibble, sources[0].role, byte=sources[0].byte, size=1),
        Term("h", bit, sources[1].role, byte=sources[1].byte, size=1),
        Term("q", q, "q = n + 16·h"),
    )


def _q5_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    nibble, bit, q, sources = _q5_parts(block, element, 2)
    value = np.float32(q - 16) * d
    return ElementAnatomy(
        element=element,
        quant=sources,
        terms=(d_term,) + _q5_terms(nibble, bit, q, sources),
        formula="q = n + 16·h;  x = d·(q − 16)",
        worked=f"q = {nibble} + 16·{bit} = {q};  x = {fmt(d)}·({q} − 16) = {fmt(value)}",
        value=float(value),
    )


def _q5_1_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    m, m_term = half_term(block, 2, "m", "block minimum")
    nibble, bit, q, sources = _q5_parts(block, element, 4)
    value = np.float32(q) * d + m
    return ElementAnatomy(
        element=element,
        quant=sources,
        terms=(d_term, m_term) + _q5_terms(nibble, bit, q, sources),
        formula="q = n + 16·h;  x = d·q + m",
        worked=f"q = {nibble} + 16·{bit} = {q};  x = {fmt(d)}·{q} {plus(m)} = {fmt(value)}",
        value=float(value),
    )


# --- Q8_0 / Q8_1 -------------------------------------------------------------


def _q8_kernel(qs_offset: int) -> Kernel:
    def kernel(blocks: np.ndarray, out: np.ndarray) -> None:
        d = half_column(blocks, 0)
        np.copyto(out, blocks[:, qs_offset:].view(np.int8), casting="unsafe")
        out *= d

    kernel.__name__ = f"_q8_kernel_at_{qs_offset}"
    return kernel


def _q8_anatomist(qs_offset: int, note: str):
    def anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
        d, d_term = half_term(block, 0, "d", "block scale")
        terms = [d_term]
        if qs_offset == 4:
            s, s_term = half_term(block, 2, "s", "d·Σq, a sum used by the dot product, not a scale")
            terms.append(s_term)
        q = int.from_bytes(block[qs_offset + element : qs_offset + element + 1], "little", signed=True)
        source = BitSource("qs", qs_offset + element, None, f"qs[{element}] (int8)")
        terms.append(Term("q", q, source.role, byte=source.byte, size=1))
        value = np.float32(q) * d
        return ElementAnatomy(
            element=element,
            quant=(source,),
            terms=tuple(terms),
            formula="x = d·q" + note,
            worked=f"x = {fmt(d)}·({q}) = {fmt(value)}",
            value=float(value),
        )

    return anatomy


# --- Q1_0 / Q2_0 -------------------------------------------------------------


def _q1_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    clear = np.unpackbits(blocks[:, 2:18], axis=1, bitorder="little")
    clear ^= 1
    # ggml picks d or −d; flipping the sign bit of d is exactly −d, NaN included.
    bits = out.view(np.uint32)
    np.copyto(bits, clear, casting="unsafe")
    bits <<= 31
    bits ^= d.view(np.uint32)


def _q1_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    index, position = divmod(element, 8)
    bit = (block[2 + index] >> position) & 1
    source = BitSource("qs", 2 + index, (position, position), f"bit {position} of qs[{index}]")
    value = d if bit else -d
    sign = "+" if bit else "−"
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("b", bit, source.role, byte=source.byte, size=1)),
        formula="x = +d if b = 1, x = −d if b = 0",
        worked=f"b = {bit}  →  x = {sign}d = {fmt(value)}",
        value=float(value),
    )


def _q2_0_kernel(blocks: np.ndarray, out: np.ndarray) -> None:
    d = half_column(blocks, 0)
    k = blocks.shape[0]
    codes = scratch("codes", (k, 16, 4))
    qs = blocks[:, 2:]
    for slot in range(4):
        np.right_shift(qs, 2 * slot, out=codes[:, :, slot])
    codes &= 3
    codes -= 1  # wraps to the int8 bit pattern of q − 1
    np.copyto(out, codes.view(np.int8).reshape(k, 64), casting="unsafe")
    out *= d


def _q2_0_anatomy(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
    d, d_term = half_term(block, 0, "d", "block scale")
    index, slot = divmod(element, 4)
    q = (block[2 + index] >> (2 * slot)) & 3
    source = BitSource("qs", 2 + index, (2 * slot, 2 * slot + 1), f"bits {2 * slot}–{2 * slot + 1} of qs[{index}]")
    value = np.float32(q - 1) * d
    return ElementAnatomy(
        element=element,
        quant=(source,),
        terms=(d_term, Term("q", q, source.role, byte=source.byte, size=1)),
        formula="x = d·(q − 1)",
        worked=f"x = {fmt(d)}·({q} − 1) = {fmt(value)}",
        value=float(value),
    )


# --- records -----------------------------------------------------------------

_D = Field("d", 0, 2, "ggml_half", "block scale (fp16)")
_NIBBLES = "4-bit codes: element j < 16 in the low nibble of qs[j], element j + 16 in the high nibble"

#: The legacy records, in id order.
TYPES: tuple[GGMLType, ...] = (
    GGMLType(
        id=2,
        name="Q4_0",
        block_size=32,
        type_size=18,
        is_quantized=True,
        vec_dot_type="Q8_0",
        fields=(_D, Field("qs", 2, 16, "uint8_t[16]", _NIBBLES + "; x = d·(q − 8)")),
        description="4-bit: 32 codes q in 0..15 sharing one fp16 scale d, x = d·(q − 8); 18 bytes per block.",
        family="legacy",
        dequantizer=block_dequantizer(32, _q4_0_kernel),
        anatomist=quiet(_q4_0_anatomy),
    ),
    GGMLType(
        id=3,
        name="Q4_1",
        block_size=32,
        type_size=20,
        is_quantized=True,
        vec_dot_type="Q8_1",
        fields=(
            _D,
            Field("m", 2, 2, "ggml_half", "block minimum (fp16), added to every element"),
            Field("qs", 4, 16, "uint8_t[16]", _NIBBLES + "; x = d·q + m"),
        ),
        description="4-bit with offset: 32 codes q in 0..15, an fp16 scale d and fp16 minimum m, x = d·q + m; 20 bytes per block.",
        family="legacy",
        dequantizer=block_dequantizer(32, _q4_1_kernel),
        anatomist=quiet(_q4_1_anatomy),
    ),
    GGMLType(
        id=6,
        name="Q5_0",
        block_size=32,
        type_size=22,
        is_quantized=True,
        vec_dot_type="Q8_0",
        fields=(
            _D,
            Field("qh", 2, 4, "uint8_t[4]", "5th bits: bit j of this little-endian u32 is bit 4 of element j"),
            Field("qs", 6, 16, "uint8_t[16]", _NIBBLES + " (low 4 bits); x = d·(q − 16)"),
        ),
        description="5-bit: 4-bit nibbles plus a 32-bit mask of 5th bits, one fp16 scale d, x = d·(q − 16); 22 bytes per block.",
        family="legacy",
        dequantizer=block_dequantizer(32, _q5_0_kernel),
        anatomist=quiet(_q5_0_anatomy),
    ),
    GGMLType(
        id=7,
        name="Q5_1",
        block_size=32,
        type_size=24,
        is_quantized=True,
        vec_dot_type="Q8_1",
        fields=(
            _D,
            Field("m", 2, 2, "ggml_half", "block minimum (fp16), added to every element"),
            Field("qh", 4, 4, "uint8_t[4]", "5th bits: bit j of this little-endian u32 is bit 4 of element j"),
            Field("qs", 8, 16, "uint8_t[16]", _NIBBLES + " (low 4 bits); x = d·q + m"),
        ),
        description="5-bit with offset: nibbles plus a mask of 5th bits, an fp16 scale d and minimum m, x = d·q + m; 24 bytes per block.",
        family="legacy",
        dequantizer=block_dequantizer(32, _q5_1_kernel),
        anatomist=quiet(_q5_1_anatomy),
    ),
    GGMLType(
        id=8,
        name="Q8_0",
        block_size=32,
        type_size=34,
        is_quantized=True,
        vec_dot_type="Q8_0",
        fields=(_D, Field("qs", 2, 32, "int8_t[32]", "codes, x = d·q")),
        description="8-bit: 32 int8 codes sharing one fp16 scale d, x = d·q; 34 bytes per block — not plain int8.",
        family="legacy",
        dequantizer=block_dequantizer(32, _q8_kernel(2)),
        anatomist=quiet(_q8_anatomist(2, "")),
    ),
    GGMLType(
        id=9,
        name="Q8_1",
        block_size=32,
        type_size=36,
        is_quantized=True,
        vec_dot_type=None,
        fields=(
            _D,
            Field("s", 2, 2, "ggml_half", "d·Σq (fp16): a precomputed sum for dot products, not a scale"),
            Field("qs", 4, 32, "int8_t[32]", "codes, x = d·q"),
        ),
        description=(
            "8-bit activation format (what Q4_1/Q5_1 weights are multiplied against): Q8_0 plus "
            "s = d·Σq; x = d·q, 36 bytes per block, never stored as a weight."
        ),
        family="legacy",
        is_weight_type=False,
        # ggml has no to_float for Q8_1; x = d·q is its definition (s is a sum).
        dequantizer=block_dequantizer(32, _q8_kernel(4)),
        anatomist=quiet(_q8_anatomist(4, "  (s is not used: it is d·Σq, kept for the dot product)")),
    ),
    GGMLType(
        id=41,
        name="Q1_0",
        block_size=128,
        type_size=18,
        is_quantized=True,
        vec_dot_type="Q8_0",
        fields=(_D, Field("qs", 2, 16, "uint8_t[16]", "sign bits: element j is bit j % 8 of qs[j / 8]; x = +d if set, −d if clear")),
        description="1-bit: 128 sign bits sharing one fp16 scale d, x = ±d; 18 bytes per block.",
        family="legacy",
        dequantizer=block_dequantizer(128, _q1_0_kernel),
        anatomist=quiet(_q1_0_anatomy),
    ),
    GGMLType(
        id=42,
        name="Q2_0",
        block_size=64,
        type_size=18,
        is_quantized=True,
        vec_dot_type="Q8_0",
        fields=(
            _D,
            Field("qs", 2, 16, "uint8_t[16]", "2-bit codes packed in order: element j is bits 2·(j % 4).. of qs[j / 4]; x = d·(q − 1)"),
        ),
        description="2-bit: 64 codes q in 0..3 sharing one fp16 scale d, x = d·(q − 1) ∈ {−d, 0, d, 2d}; 18 bytes per block.",
        family="legacy",
        dequantizer=block_dequantizer(64, _q2_0_kernel),
        anatomist=quiet(_q2_0_anatomy),
    ),
)
