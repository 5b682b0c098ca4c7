"""Normal ↔ native (tiled) layouts of the NPU matmul's A, B and C buffers.

Native shapes (``platforms``): A is (K/subK, M, subK), B is
(N/subN, K/subK, subN, subK), C is (N/subN, M, subN). K and N are zero-padded
to the tiles and the alignment, as the runtime and its demo do. On platforms
with a K segment limit (8192 on RK3588, 4096 on RK3576) B is tiled segment by
segment and the segments are concatenated. int4 values are packed two per
byte, the even element in the low nibble (verified on board by a third
party for runtime 2.3.2; older demos used the high nibble: UNCERTAIN).

Everything is reshape/transpose on whole arrays: no Python loop over tiles.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from .platforms import MATMUL_TYPES, Platform, get_platform

PlatformLike = Union[str, Platform]

#: numpy dtype of each buffer dtype (int4 codes are int8 before packing).
NUMPY_DTYPES = {"int8": np.int8, "int4": np.int8, "fp16": np.float16, "int32": np.int32,
                "fp32": np.float32, "int16": np.int16}


def _platform(p: PlatformLike) -> Platform:
    return p if isinstance(p, Platform) else get_platform(p)


def _input_dtype(platform: Platform, dtype: str) -> str:
    if dtype in MATMUL_TYPES:
        dtype = MATMUL_TYPES[dtype].b_dtype
    if dtype not in platform.b_tile:
        raise ValueError(f"{platform.name} has no {dtype!r} matmul inputs (it has {', '.join(platform.b_tile)})")
    return dtype


# -- int4 nibbles --------------------------------------------------------------
def pack_int4(values: np.ndarray) -> np.ndarray:
    """Pack int4 values (int8 in −8..7) two per byte along the last axis, even element low."""
    v = np.asarray(values)
    if v.shape[-1] % 2:
        raise ValueError("int4 packing needs an even number of elements along the last axis")
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 values must lie in -8..7")
    u = v.astype(np.uint8) & 0x0F
    return (u[..., 0::2] | (u[..., 1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_int4`: int8 values, twice as many along the last axis."""
    p = np.asarray(packed, dtype=np.uint8)
    out = np.empty(p.shape[:-1] + (p.shape[-1] * 2,), dtype=np.int8)
    # Sign-extend each nibble: shift it to the top of an int8 and back.
    out[..., 0::2] = (p << 4).view(np.int8) >> 4
    out[..., 1::2] = p.view(np.int8) >> 4
    return out


def _pad2(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if x.shape == (rows, cols):
        return x
    out = np.zeros((rows, cols), dtype=x.dtype)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def _check(x: np.ndarray, dtype: str, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{what} must be 2-D, got shape {x.shape}")
    want = NUMPY_DTYPES[dtype]
    if x.dtype != want:
        raise TypeError(f"{what} for {dtype} must be {np.dtype(want).name}, got {x.dtype}")
    return x


# -- shapes --------------------------------------------------------------------
def native_shape(matrix: str, platform: PlatformLike, dtype: str, M: int, K: int, N: int) -> tuple:
    """Element shape of the native buffer of ``matrix`` ("A", "B" or "C").

    ``dtype`` is the input dtype ("int8", "fp16", "int4") or a matmul type
    name ("int8", "fp16-fp16", ...). For "C" it may also be the C dtype
    ("int32", "fp32", "int16", ...), which pads N to C's cell only. A
    K-segmented B has a flat shape: the segments' elements, concatenated.
    int4 shapes count elements; the buffer holds half as many bytes.
    """
    p = _platform(platform)
    matrix = matrix.upper()
    if matrix == "C":
        if dtype in MATMUL_TYPES:
            mm = MATMUL_TYPES[dtype]
            return (p.padded_n(N, mm.b_dtype) // p.c_cell(mm.c_dtype), M, p.c_cell(mm.c_dtype))
        cell = p.c_cell(dtype)
        return (-(-N // cell), M, cell)
    d = _input_dtype(p, dtype)
    if matrix == "A":
        sub = p.a_sub_k[d]
        return (p.padded_k(K, d) // sub, M, sub)
    if matrix == "B":
        sub_n, sub_k = p.b_tile[d]
        n_pad = p.padded_n(N, d)
        segments = p.k_segments(K)
        if len(segments) == 1:
            return (n_pad // sub_n, p.padded_k(K, d) // sub_k, sub_n, sub_k)
        return (sum(p.padded_k(b - a, d) for a, b in segments) * n_pad,)
    raise ValueError(f"matrix must be 'A', 'B' or 'C', got {matrix!r}")


def native_nbytes(matrix: str, platform: PlatformLike, dtype: str, M: int, K: int, N: int) -> int:
    """Bytes of the native buffer (int4 packs two elements per byte)."""
    shape = native_shape(matrix, platform, dtype, M, K, N)
    n = int(np.prod(shape))
    if matrix.upper() == "C":
        c = MATMUL_TYPES[dtype].c_dtype if dtype in MATMUL_TYPES else dtype
        return n * np.dtype(NUMPY_DTYPES[c]).itemsize
    d = _input_dtype(_platform(platform), dtype)
    return n // 2 if d == "int4" else n * np.dtype(NUMPY_DTYPES[d]).itemsize


# -- A -------------------------------------------------------------------------
def pack_a(a: np.ndarray, platform: PlatformLike, dtype: str) -> np.ndarray:
    """A (M, K) → native (K/subK, M, subK), K zero-padded; int4 packed to bytes."""
    p = _platform(platform)
    d = _input_dtype(p, dtype)
    a = _check(a, d, "A")
    m, k = a.shape
    sub = p.a_sub_k[d]
    padded = _pad2(a, m, p.padded_k(k, d))
    native = np.ascontiguousarray(padded.reshape(m, -1, sub).transpose(1, 0, 2))
    return pack_int4(native) if d == "int4" else native


def unpack_a(native: np.ndarray, platform: PlatformLike, dtype: str, M: int, K: int) -> np.ndarray:
    """Inverse of :func:`pack_a`: A (M, K)."""
    p = _platform(platform)
    d = _input_dtype(p, dtype)
    cells = unpack_int4(native) if d == "int4" else np.asarray(native)
    sub = p.a_sub_k[d]
    cells = cells.reshape(-1, M, sub)
    return np.ascontiguousarray(cells.transpose(1, 0, 2).reshape(M, -1)[:, :K])


# -- B -------------------------------------------------------------------------
def _tile_b(b: np.ndarray, p: Platform, d: str) -> np.ndarray:
    k, n = b.shape
    sub_n, sub_k = p.b_tile[d]
    padded = _pad2(b, p.padded_k(k, d), p.padded_n(n, d))
    # B[k][n] → native[n // subN][k // subK][n % subN][k % subK]
    tiles = padded.T.reshape(padded.shape[1] // sub_n, sub_n, padded.shape[0] // sub_k, sub_k)
    return np.ascontiguousarray(tiles.transpose(0, 2, 1, 3))


def pack_b(b: np.ndarray, platform: PlatformLike, dtype: str) -> np.ndarray:
    """Normal B (K, N) = Wᵀ → native tiles; K segments concatenated flat when K is split."""
    p = _platform(platform)
    d = _input_dtype(p, dtype)
    b = _check(b, d, "B")
    segments = p.k_segments(b.shape[0])
    if len(segments) == 1:
        native = _tile_b(b, p, d)
    else:
        native = np.concatenate([_tile_b(b[s:e], p, d).reshape(-1) for s, e in segments])
    return pack_int4(native) if d == "int4" else native


def unpack_b(native: np.ndarray, platform: PlatformLike, dtype: str, K: int, N: int) -> np.ndarray:
    """Inverse of :func:`pack_b`: normal B (K, N)."""
    p = _platform(platform)
    d = _input_dtype(p, dtype)
    flat = np.asarray(native).reshape(-1)
    if d == "int4":
        flat = unpack_int4(flat)
    sub_n, sub_k = p.b_tile[d]
    n_pad = p.padded_n(N, d)
    parts, pos = [], 0
    for s, e in p.k_segments(K):
        k_pad = p.padded_k(e - s, d)
        size = k_pad * n_pad
        tiles = flat[pos : pos + size].reshape(n_pad // sub_n, k_pad // sub_k, sub_n, sub_k)
        parts.append(tiles.transpose(1, 3, 0, 2).reshape(k_pad, n_pad)[: e - s])
        pos += size
    if pos != flat.size:
        raise ValueError(f"native B has {flat.size} elements, expected {pos} for K={K}, N={N}")
    return np.ascontiguousarray(np.concatenate(parts)[:, :N])


# -- C -------------------------------------------------------------------------
def pack_c(c: np.ndarray, platform: PlatformLike, dtype: str) -> np.ndarray:
    """C (M, N) → native (N/subN, M, subN), N zero-padded to the cell.

    ``dtype`` is C's dtype. For fp16 and int8 C the native layout is
    undocumented; the int32 cell is assumed (UNCERTAIN).
    """
    p = _platform(platform)
    c = np.asarray(c)
    m, n = c.shape
    cell = p.c_cell(dtype)
    padded = _pad2(c, m, -(-n // cell) * cell)
    return np.ascontiguousarray(padded.reshape(m, -1, cell).transpose(1, 0, 2))


def unpack_c(c_native: np.ndarray, platform: PlatformLike, dtype: str, M: int, N: int) -> np.ndarray:
    """Native C (N/subN, M, subN) → C (M, N); padding columns are dropped."""
    p = _platform(platform)
    cell = p.c_cell(dtype)
    cells = np.asarray(c_native).reshape(-1, M, cell)
    return np.ascontiguousarray(cells.transpose(1, 0, 2).reshape(M, -1)[:, :N])
