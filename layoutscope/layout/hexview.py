"""Annotated hex of the blocks around one element: every byte tagged with its field.

The TUI colours scale bytes and code bytes differently and marks the bytes
that hold the cursor element's code; this module only says which is which,
so the same annotation can be tested (and printed) without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Field names that hold codes (quant bits); every other block field is a scale, min or exponent.
QUANT_FIELDS = frozenset({"qs", "ql", "qh", "hmask", "signs"})
#: Bytes per hex line.
BYTES_PER_LINE = 16


@dataclass(frozen=True)
class HexByte:
    """One byte: its file offset, value, the field it belongs to, and its kind."""

    offset: int
    value: int
    field: str
    kind: str  # "scale", "quant", "value" (plain types) or "raw" (unknown types)
    cursor: bool


@dataclass(frozen=True)
class HexBlock:
    """One block of a row: a heading and its bytes, split into lines."""

    heading: str
    lines: tuple[tuple[HexByte, ...], ...]
    is_cursor_block: bool


def field_kind(name: str) -> str:
    """``"quant"`` for code fields, ``"value"`` for a plain element, else ``"scale"``."""
    if name == "x":
        return "value"
    return "quant" if name in QUANT_FIELDS else "scale"


def _split(cells: list[HexByte]) -> tuple[tuple[HexByte, ...], ...]:
    return tuple(tuple(cells[i : i + BYTES_PER_LINE]) for i in range(0, len(cells), BYTES_PER_LINE))


def blocks_around(tensor, row: int, col: int, cursor_bytes=frozenset(), max_bytes: int = 112) -> list[HexBlock]:
    """The block holding (``row``, ``col``) and neighbours in the same row, up to ``max_bytes``.

    Plain types (one element per "block") are grouped into runs of
    :data:`BYTES_PER_LINE` bytes. ``cursor_bytes`` are file offsets to mark
    (the element's code bytes, as ``layout.explain`` reports them); plain
    types mark the element's own bytes.
    """
    t = tensor.type
    per_unit = t.block_size if t.block_size > 1 else max(1, BYTES_PER_LINE // t.type_size)
    size = per_unit // t.block_size * t.type_size
    n_units = -(-tensor.ne[0] // per_unit)
    here = col // per_unit
    around = max(0, (max_bytes // size - 1) // 2)
    first = max(0, min(here - around, n_units - (2 * around + 1)))
    last = min(n_units, first + 2 * around + 1)
    raw = tensor.raw(row)[0]
    row_start = tensor.offset + row * tensor.row_bytes
    marked = set(cursor_bytes)
    if t.block_size == 1 and not marked:
        marked = set(range(row_start + col * t.type_size, row_start + (col + 1) * t.type_size))
    out = []
    for u in range(first, last):
        start = row_start + u * size
        stop = min(start + size, row_start + tensor.row_bytes)
        cells = []
        for offset in range(start, stop):
            within = (offset - row_start) % t.type_size
            f = next(f for f in t.fields if f.offset <= within < f.end)
            cells.append(HexByte(offset, int(raw[offset - row_start]), f.name, field_kind(f.name), offset in marked))
        c0, c1 = u * per_unit, min((u + 1) * per_unit, tensor.ne[0]) - 1
        heading = f"block {u} @ byte {start} (cols {c0}..{c1})" if t.block_size > 1 else f"cols {c0}..{c1} @ byte {start}"
        out.append(HexBlock(heading, _split(cells), u == here))
    return out


def raw_lines(tensor, count: int = 256) -> list[tuple[HexByte, ...]]:
    """The first ``count`` bytes of a tensor of unknown type, for a plain hex dump."""
    data = tensor.raw()
    flat = data.reshape(-1)[:count] if data.size else data.reshape(-1)
    cells = [HexByte(tensor.offset + i, int(v), "?", "raw", False) for i, v in enumerate(flat.tolist())]
    return list(_split(cells))


def hex_text(line: tuple[HexByte, ...]) -> str:
    """``"   892032  3f 01 ..."``: the plain text of one hex line (offset, then bytes)."""
    return f"{line[0].offset:>10}  " + " ".join(f"{c.value:02x}" for c in line)
