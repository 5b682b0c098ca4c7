"""The randomized Hadamard rotation of K: random ±1 signs, zero padding, an unnormalized fast Walsh–Hadamard transform.

The backend rotates both operands the same way, so (H·D·w)·(H·D·x) = K_op·(w·x)
and the output is divided by K_op (:func:`divisor`). ORG (fact sheet §3.2)
pads K to the next power of two and transforms the whole row. UNI's
``block-diagonal`` fork keeps K and transforms each block of the largest
power of two dividing K, dividing by the block length.

The transform is Sylvester's, H[i, j] = (−1)^popcount(i & j), computed by
butterflies (x, y) → (x + y, x − y) with h = 1, 2, 4, … in float32,
the backend's order of operations, so the rounding is the backend's too. It
costs O(K log K) per row: the loop runs over the log2(K) stages, each stage
vectorised over every row and pair.

Signs: upstream seeds ``std::mt19937`` with the tensor struct's address, so
its signs cannot be reproduced off the board. Here each tensor's vector comes
from an explicit ``seed`` and the tensor's name (:func:`sign_vector`).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .names import HADAMARD_LAYOUTS as LAYOUTS
from .split import next_pow2

#: ORG: one transform of next_pow2(K), zero-padded. UNI: blocks of the largest power of two dividing K.
PADDED, BLOCK_DIAGONAL = LAYOUTS
#: Elements of a block of rows transformed together: 256 KiB of float32 stays in a core's cache.
_CACHED_ELEMENTS = 1 << 16


def block_length(k: int, layout: str = PADDED) -> int:
    """Length of one transform: next_pow2(K) (``padded``) or the largest power of two dividing K (``block-diagonal``)."""
    if layout == PADDED:
        return next_pow2(k)
    if layout == BLOCK_DIAGONAL:
        return k & -k
    raise ValueError(f"unknown Hadamard layout {layout!r}; choose from {', '.join(LAYOUTS)}")


def k_op(k: int, layout: str = PADDED) -> int:
    """K after the rotation: padded to a power of two, or unchanged (``block-diagonal``)."""
    return next_pow2(k) if layout == PADDED else k


def divisor(k: int, layout: str = PADDED) -> int:
    """What the rotated product is divided by: the transform's length (H·H = length·I)."""
    return block_length(k, layout)


def sign_vector(seed: int, name: str, length: int) -> np.ndarray:
    """±1 float32 signs of one tensor, derived from (``seed``, ``name``): the same pair gives the same vector."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    sequence = np.random.SeedSequence([int(seed), *np.frombuffer(digest, dtype=np.uint32).tolist()])
    bits = np.random.Generator(np.random.PCG64(sequence)).integers(0, 2, size=length)
    return np.where(bits == 0, np.float32(-1), np.float32(1))


def fwht(rows: np.ndarray) -> np.ndarray:
    """The unnormalized Walsh–Hadamard transform of each row (length a power of two), in float32, in place.

    ``rows`` must be a C-contiguous float32 array (…, L); it is returned, transformed.
    """
    length = rows.shape[-1]
    if length & (length - 1):
        raise ValueError(f"the Walsh–Hadamard transform needs a power-of-two length, got {length}")
    flat = rows.reshape(-1, length)
    per = max(1, _CACHED_ELEMENTS // length)
    scratch = np.empty((min(per, flat.shape[0]), length), dtype=np.float32)
    # Blocks of rows that stay in cache through all log2(L) stages (not single rows); each stage is one
    # vectorised butterfly over every row and pair of the block, written to the other of two buffers.
    for start in range(0, flat.shape[0], per):
        block = flat[start:start + per]
        src, dst = block, scratch[:block.shape[0]]
        h = 1
        while h < length:
            s = src.reshape(src.shape[0], length // (2 * h), 2, h)
            d = dst.reshape(s.shape)
            np.add(s[:, :, 0, :], s[:, :, 1, :], out=d[:, :, 0, :])
            np.subtract(s[:, :, 0, :], s[:, :, 1, :], out=d[:, :, 1, :])
            src, dst = dst, src
            h *= 2
        if src is not block:
            block[...] = src
    return rows


def rotate(values: np.ndarray, signs: np.ndarray, layout: str = PADDED) -> np.ndarray:
    """Rows of ``values`` (R, K) times the signs, zero-padded to K_op and transformed: float32 (R, K_op), unscaled."""
    r, k = values.shape
    out = np.zeros((r, k_op(k, layout)), dtype=np.float32)
    np.multiply(values, signs[:k], out=out[:, :k], casting="unsafe")
    block = block_length(k, layout)
    fwht(out.reshape(r, -1, block))
    return out


def matrix(length: int) -> np.ndarray:
    """Sylvester's H of size ``length`` as float64, H[i, j] = (−1)^popcount(i & j) (for tests and small checks)."""
    i = np.arange(length)
    parity = np.zeros((length, length), dtype=np.int64)
    both = i[:, None] & i[None, :]
    while both.any():
        parity ^= both & 1
        both = both >> 1
    return np.where(parity == 1, -1.0, 1.0)
