"""Lookup tables for the IQ types, built on first use.

The lattice grids (``iq2xxs_grid`` ... ``iq1s_grid``) are not written out in
layoutscope's source: they are taken at run time from the installed gguf-py,
whose ``gguf.quants`` classes unpack them into float32 arrays through their
``init_grid()`` class method. The registry tests compare every decoder with
ggml's own ``to_float`` bit for bit, which is what proves these tables right.

The sign table ``ksigns_iq2xs`` is derived rather than looked up: entry ``i``
is ``i`` with bit 7 set when ``i`` has an odd number of set bits, so that every
8-bit sign mask has an even number of minus signs.

Besides the plain grids, the decoders use *fused* tables in which a grid
row is already multiplied by its signs (or shifted by the IQ1 delta), so one
gather per group produces the values that only need the group scale applied.
Multiplying by ±1 is exact, so ``db·(±g)`` has the same bits as ggml's
``(db·g)·±1``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: kvalues_iq4nl: the 16 non-linear levels shared by IQ4_NL and IQ4_XS.
KVALUES_IQ4NL = (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)

#: ggml's IQ1S_DELTA (and IQ1M_DELTA): the shift added to every IQ1 grid value.
IQ1_DELTA = np.float32(0.125)

#: Which gguf-py class holds each grid, and the grid's (rows, width).
_GRID_SOURCES = {
    "iq2xxs_grid": ("IQ2_XXS", (256, 8)),
    "iq2xs_grid": ("IQ2_XS", (512, 8)),
    "iq2s_grid": ("IQ2_S", (1024, 8)),
    "iq3xxs_grid": ("IQ3_XXS", (256, 4)),
    "iq3s_grid": ("IQ3_S", (512, 4)),
    "iq1s_grid": ("IQ1_S", (2048, 8)),
}


@lru_cache(maxsize=None)
def grid(name: str) -> np.ndarray:
    """The ggml lattice grid ``name`` as a read-only float32 (rows, width) array."""
    class_name, shape = _GRID_SOURCES[name]
    try:
        from gguf import quants
    except ImportError as exc:  # pragma: no cover - gguf is a hard dependency
        raise RuntimeError(f"{name} comes from gguf-py, which is not installed") from exc
    cls = getattr(quants, class_name, None)
    if cls is None or not hasattr(cls, "init_grid"):
        raise RuntimeError(
            f"gguf.quants.{class_name}.init_grid() is missing; this gguf-py version "
            f"does not provide {name}"
        )
    cls.init_grid()
    values = np.asarray(cls.grid, dtype=np.float32)
    if values.size != shape[0] * shape[1]:
        raise RuntimeError(f"gguf-py's {name} has {values.size} values, expected {shape}")
    table = values.reshape(shape).copy()
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def ksigns() -> np.ndarray:
    """ksigns_iq2xs: 128 sign masks, each with an even number of set bits."""
    index = np.arange(128, dtype=np.uint8)
    parity = np.unpackbits(index[:, None], axis=1).sum(axis=1, dtype=np.uint8) & 1
    table = index | (parity << 7).astype(np.uint8)
    table.flags.writeable = False
    return table


def _sign_factors(masks: np.ndarray, width: int) -> np.ndarray:
    """±1.0 for each of the low ``width`` bits of every mask (bit set = negative)."""
    bits = (masks[:, None].astype(np.uint32) >> np.arange(width, dtype=np.uint32)) & 1
    return np.where(bits == 1, np.float32(-1.0), np.float32(1.0)).astype(np.float32)


def _signed(grid_values: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Rows ``mask_index << log2(rows) | grid_index`` = grid row times its signs."""
    rows, width = grid_values.shape
    signs = _sign_factors(masks, width)
    table = (signs[:, None, :] * grid_values[None, :, :]).reshape(-1, width)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def iq2xxs_signed() -> np.ndarray:
    """(128·256, 8): row ``sign_index << 8 | grid_index`` of iq2xxs_grid with ksigns applied."""
    return _signed(grid("iq2xxs_grid"), ksigns())


@lru_cache(maxsize=None)
def iq2xs_signed() -> np.ndarray:
    """(128·512, 8): indexed by IQ2_XS's whole u16 code (7-bit sign index << 9 | grid index)."""
    return _signed(grid("iq2xs_grid"), ksigns())


@lru_cache(maxsize=None)
def iq2s_signed() -> np.ndarray:
    """(256·1024, 8): row ``sign_byte << 10 | grid_index`` of iq2s_grid (8 MiB)."""
    return _signed(grid("iq2s_grid"), np.arange(256, dtype=np.uint8))


@lru_cache(maxsize=None)
def iq3xxs_signed() -> np.ndarray:
    """(16·256, 4): row ``sign_nibble << 8 | grid_index`` of iq3xxs_grid."""
    return _signed(grid("iq3xxs_grid"), np.arange(16, dtype=np.uint8))


@lru_cache(maxsize=None)
def iq3s_signed() -> np.ndarray:
    """(16·512, 4): row ``sign_nibble << 9 | grid_index`` of iq3s_grid."""
    return _signed(grid("iq3s_grid"), np.arange(16, dtype=np.uint8))


@lru_cache(maxsize=None)
def iq1s_shifted() -> np.ndarray:
    """(2·2048, 8): row ``negative << 11 | grid_index`` = iq1s_grid + (∓0.125), in float32."""
    g = grid("iq1s_grid")
    # float32 addition, as ggml's ``grid[j] + delta``.
    table = np.concatenate([g + IQ1_DELTA, g + (-IQ1_DELTA)]).astype(np.float32)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def kvalues_f32() -> np.ndarray:
    """kvalues_iq4nl as float32, the form the IQ4 decoders gather from."""
    table = np.array(KVALUES_IQ4NL, dtype=np.float32)
    table.flags.writeable = False
    return table
