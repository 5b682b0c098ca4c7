"""The dequantization driver every block family uses: chunked, optionally threaded.

A family writes a *kernel* ``(blocks, out)`` that fills float32 rows for a
C-contiguous chunk of blocks; :func:`run_kernel` feeds it cache-sized chunks
and splits large inputs across a small thread pool (numpy releases the GIL).
:func:`kernel_record` makes a family's record around its kernel. Also here:
per-thread scratch buffers and the chunk helpers kernels share.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from layoutscope.formats._common import fp16_column
from layoutscope.formats.record import GGMLType
from layoutscope.formats.sizes import sizes_of
from layoutscope.formats.threads import pool_threads

#: A dequantization kernel: ``(blocks, out)`` with ``blocks`` a C-contiguous
#: uint8 ``(k, type_size)`` chunk and ``out`` the float32 ``(k, block_size)``
#: rows to fill.
Kernel = Callable[[np.ndarray, np.ndarray], None]

# ~512 K elements (2 MiB of float32) per chunk: a kernel's passes over its
# output mostly hit cache, and per-call overhead stays small (measured).
_CHUNK_ELEMENTS = 1 << 19


#: Threads used for large dequantizations (``LAYOUTSCOPE_THREADS`` overrides).
THREADS = pool_threads()

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


def kernel_record(name: str, kernel: Kernel, **details) -> GGMLType:
    """The record of type ``name`` (sizes from the size table) whose dequantizer runs ``kernel`` over its blocks."""
    sizes = sizes_of(name)
    return GGMLType(sizes, dequantizer=block_dequantizer(sizes.block_size, kernel), **details)


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


def move_runs(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy byte array ``src`` into ``dst`` (same shape, both last axes contiguous)."""
    # Each last-axis run viewed as one ``V<n>`` item lets numpy loop over the
    # long axes instead of making one call per short run: re-ordering copies
    # become cheap.
    width = dst.shape[-1]
    np.copyto(dst.view(f"V{width}")[..., 0], src.view(f"V{width}")[..., 0])
