"""Small helpers shared by the format families: field readers and number text.

Block fields are read as column views of ``(n_blocks, type_size)`` uint8
arrays, so every dequantizer works on all blocks at once.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

from layoutscope.formats.float_text import shortest_text
from layoutscope.formats.record import BitSource, ElementAnatomy, Term


def fp16_column(blocks: np.ndarray, offset: int) -> np.ndarray:
    """The little-endian fp16 at ``offset`` of every block, as float32 (n, 1)."""
    return blocks[:, offset : offset + 2].copy().view("<f2").astype(np.float32)


def f32_column(blocks: np.ndarray, offset: int) -> np.ndarray:
    """The little-endian float32 at ``offset`` of every block, shape (n, 1)."""
    return blocks[:, offset : offset + 4].copy().view("<f4").astype(np.float32)


def uint_column(blocks: np.ndarray, offset: int, size: int, count: int = 1) -> np.ndarray:
    """``count`` little-endian unsigned ints of ``size`` bytes at ``offset``, shape (n, count)."""
    dtype = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}[size]
    return blocks[:, offset : offset + size * count].copy().view(dtype).astype(
        {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[size]
    )


def read_fp16(block: bytes, offset: int) -> np.float32:
    """One little-endian fp16 from a block, as float32 (exact)."""
    return np.float32(np.frombuffer(block, "<f2", 1, offset)[0])


def read_f32(block: bytes, offset: int) -> np.float32:
    """One little-endian float32 from a block."""
    return np.float32(np.frombuffer(block, "<f4", 1, offset)[0])


def read_uint(block: bytes, offset: int, size: int) -> int:
    """One little-endian unsigned int of ``size`` bytes from a block."""
    return int.from_bytes(block[offset : offset + size], "little")


def hex_bytes(block: bytes, offset: int, size: int) -> str:
    """Bytes as they sit in the file, e.g. ``66 2e``."""
    return " ".join(f"{b:02x}" for b in block[offset : offset + size])


def f32_bits(x: float) -> str:
    """The IEEE bit pattern of a float32, for bit-exact comparisons in text."""
    return f"0x{struct.unpack('<I', struct.pack('<f', float(x)))[0]:08x}"


def quiet(anatomist):
    """Wrap an anatomist so that inf/NaN arithmetic on odd blocks raises no warnings."""

    @functools.wraps(anatomist)
    def explain(block: bytes, element: int, byteorder: str) -> ElementAnatomy:
        with np.errstate(all="ignore"):
            return anatomist(block, element, byteorder)

    return explain


def half_term(block: bytes, offset: int, name: str, meaning: str) -> tuple[np.float32, Term]:
    """An fp16 field of one block as (value, Term) for an anatomy."""
    value = read_fp16(block, offset)
    source = f"{meaning}, fp16 @{offset}..{offset + 1} = {hex_bytes(block, offset, 2)}"
    return value, Term(name, float(value), source, byte=offset, size=2)


def plus(x: float) -> str:
    """``+ 0.5`` or ``- 0.5``: a float32 as the right operand of an addition."""
    text = shortest_text(x)
    return f"- {text[1:]}" if text.startswith("-") else f"+ {text}"


def nibble_source(field: str, field_offset: int, index: int, high: bool) -> BitSource:
    """The BitSource for the low or high nibble of ``field[index]``."""
    half = "high" if high else "low"
    return BitSource(field, field_offset + index, (4, 7) if high else (0, 3), f"{half} nibble of {field}[{index}]")
