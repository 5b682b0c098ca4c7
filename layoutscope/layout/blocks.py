"""Explain a tensor's layout: strides with their arithmetic, and one element byte by byte.

``explain(tensor, row, col)`` returns an :class:`Explanation`: structured data
for the TUI and ``--json``, and readable text via ``str()``. It locates the
block holding the element, the byte (and bits) of its code, the scales and
mins that apply, works the value out from the raw bytes, and shows what a
consumer that reads the row as plain int8 would see instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from layoutscope.formats import ElementAnatomy, Field, GGMLType
from layoutscope.formats.float_text import shortest_text
from layoutscope.gguf import Tensor
from layoutscope.errors import clipped, printable


@dataclass(frozen=True)
class Stride:
    """One ``nb[i]`` with the arithmetic that produces it."""

    name: str
    value: int
    arithmetic: str
    meaning: str


@dataclass(frozen=True)
class ByteOwner:
    """Which block and field a byte of a row belongs to."""

    byte_in_row: int
    block: int
    field: str
    byte_in_field: int
    rows_ahead: int = 0
    #: Set for a byte past the tensor's data: how far past its end, at which file byte.
    past_end: Optional[int] = None
    file_byte: Optional[int] = None

    def describe(self) -> str:
        """What this byte really is, e.g. ``d[1] of block 3 of the next row`` or ``past the tensor's end``."""
        if self.past_end is not None:
            if self.file_byte is None:
                return f"past the end of the file ({self.past_end + 1} bytes past the tensor)"
            return f"byte {self.past_end} past the tensor's end (file byte {self.file_byte}: padding or the next tensor)"
        where = f"{self.field}[{self.byte_in_field}] of block {self.block}"
        if self.rows_ahead:
            where += " of the next row" if self.rows_ahead == 1 else f" {self.rows_ahead} rows ahead"
        return where


@dataclass(frozen=True)
class PlainInt8Trap:
    """What a reader that treats the row's bytes as plain int8 sees around ``col``."""

    cols: tuple[int, ...]
    #: The byte read as int8; None past the end of the file.
    naive: tuple[Optional[int], ...]
    true_values: tuple[float, ...]
    owners: tuple[ByteOwner, ...]
    summary: str


@dataclass(frozen=True)
class ElementLocation:
    """Where element (row, col) lives: block, byte offsets, and its decoding."""

    row: int
    col: int
    index: tuple[int, ...]
    block_in_row: int
    element_in_block: int
    block_offset: int
    block_offset_arithmetic: str
    block_hex: str
    anatomy: ElementAnatomy
    quant_file_bytes: tuple[int, ...]
    dequantized: float
    matches: bool


@dataclass(frozen=True)
class Explanation:
    """Everything layoutscope can say about a tensor's layout at one element."""

    tensor: str
    type: str
    type_id: int
    description: str
    ne: tuple[int, ...]
    nb: tuple[int, ...]
    offset: int
    nbytes: int
    block_size: int
    type_size: int
    bits_per_weight: Optional[float]
    fields: tuple[Field, ...]
    strides: tuple[Stride, ...]
    element: Optional[ElementLocation]
    trap: Optional[PlainInt8Trap]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)

    def __str__(self) -> str:
        return render_text(self)


def explain(tensor: Tensor, row: int = 0, col: int = 0) -> Explanation:
    """Explain ``tensor``'s layout and the element at (``row``, ``col``).

    ``row`` counts rows of ``ne[0]`` elements over all higher dimensions
    (``ne1·ne2·ne3`` rows); ``col`` is the index along ``ne[0]``.
    """
    t = tensor.type
    notes = list(_notes(tensor))
    if t.block_size <= 0:
        return Explanation(
            tensor.name, t.name, t.id, t.description or t.unavailable_reason(), tensor.ne, (),
            tensor.offset, tensor.nbytes, 0, 0, None, (), (), None, None,
            tuple(notes + [t.unavailable_reason(), _extent_note(tensor)]),
        )
    if not 0 <= row < tensor.n_rows:
        raise IndexError(f"row {row} is outside {clipped(tensor.name)} (rows 0..{tensor.n_rows - 1})")
    if not 0 <= col < tensor.ne[0]:
        raise IndexError(f"col {col} is outside {clipped(tensor.name)} (cols 0..{tensor.ne[0] - 1})")
    element = _locate(tensor, row, col) if t.anatomist else None
    trap = _plain_int8_trap(tensor, row, col) if t.is_quantized and t.can_dequantize else None
    if not t.can_dequantize:
        notes.append(t.unavailable_reason())
    return Explanation(
        tensor=tensor.name,
        type=t.name,
        type_id=t.id,
        description=t.description,
        ne=tensor.ne,
        nb=tensor.nb,
        offset=tensor.offset,
        nbytes=tensor.nbytes,
        block_size=t.block_size,
        type_size=t.type_size,
        bits_per_weight=t.bits_per_weight,
        fields=t.fields,
        strides=strides(tensor),
        element=element,
        trap=trap,
        notes=tuple(notes),
    )


def strides(tensor: Tensor) -> tuple[Stride, ...]:
    """``nb[0..]`` of a tensor, each with its arithmetic written out."""
    t = tensor.type
    ne, nb = tensor.ne, tensor.nb
    fields = " + ".join(f"{f.name} ({f.size} B)" for f in t.fields)
    if t.block_size == 1:
        out = [Stride("nb0", nb[0], f"{nb[0]} B", f"one {t.name} element")]
    else:
        out = [Stride("nb0", nb[0], f"{nb[0]} B = {fields}", f"one {t.name} block of {t.block_size} elements")]
    if len(nb) > 1:
        blocks = ne[0] // t.block_size
        if t.block_size == 1:
            arith = f"{t.type_size} × {ne[0]} = {nb[1]} B"
        else:
            arith = f"{t.type_size} × {ne[0]}/{t.block_size} = {t.type_size} × {blocks} = {nb[1]} B"
        out.append(Stride("nb1", nb[1], arith, f"one row of {ne[0]} elements ({blocks} blocks)"))
    for i in range(2, len(nb)):
        what = "one matrix" if i == 2 else f"one dimension-{i} slice"
        out.append(Stride(f"nb{i}", nb[i], f"{nb[i - 1]} × {ne[i - 1]} = {nb[i]} B", f"{what} ({ne[i - 1]} × nb{i - 1})"))
    return tuple(out)


def byte_owner(t: GGMLType, byte_in_row: int, row_bytes: Optional[int] = None) -> ByteOwner:
    """The block and field that byte ``byte_in_row`` of a row belongs to.

    With ``row_bytes``, bytes past the end of the row are placed in the
    following rows (``rows_ahead``) and ``block`` counts within that row.
    """
    rows_ahead, byte = divmod(byte_in_row, row_bytes) if row_bytes else (0, byte_in_row)
    block, within = divmod(byte, t.type_size)
    f = next(f for f in t.fields if f.offset <= within < f.end)
    return ByteOwner(byte_in_row, block, f.name, within - f.offset, rows_ahead)


def _unravel(tensor: Tensor, row: int) -> tuple[int, ...]:
    index = []
    for n in tensor.ne[1:]:
        row, i = divmod(row, n)
        index.append(i)
    return tuple(index)


def _locate(tensor: Tensor, row: int, col: int) -> ElementLocation:
    t = tensor.type
    block_in_row, j = divmod(col, t.block_size)
    row_start = tensor.offset + row * tensor.row_bytes
    block_offset = row_start + block_in_row * t.type_size
    block = tensor.raw(row)[0, block_in_row * t.type_size : (block_in_row + 1) * t.type_size].tobytes()
    anatomy = t.anatomy(block, j, tensor.byteorder)
    value = np.float32(tensor.dequantize(row)[0, col])
    got = np.float32(anatomy.value)
    matches = bool(got.view(np.uint32) == value.view(np.uint32) or (np.isnan(got) and np.isnan(value)))
    quant_bytes = tuple(sorted({block_offset + s.byte + k for s in anatomy.quant for k in range(s.size)}))
    arith = f"{tensor.offset} + {row}·{tensor.row_bytes} + {block_in_row}·{t.type_size} = {block_offset}"
    return ElementLocation(
        row, col, (col,) + _unravel(tensor, row), block_in_row, j, block_offset, arith,
        block.hex(" "), anatomy, quant_bytes, float(value), matches,
    )


def _plain_int8_trap(tensor: Tensor, row: int, col: int, width: int = 8) -> PlainInt8Trap:
    t = tensor.type
    values = tensor.dequantize(row)[0]
    lo = max(0, min(col - width // 2, tensor.ne[0] - width))
    cols = tuple(range(lo, min(lo + width, tensor.ne[0])))
    # A naive reader walks ne0 bytes from the row start, into the next rows
    # when the row holds fewer bytes than elements (4-bit and smaller types),
    # and on the last rows past the tensor's end into whatever follows it.
    rows_needed = -(-(cols[-1] + 1) // tensor.row_bytes)
    inside = tensor.raw(slice(row, row + rows_needed)).reshape(-1)
    stream = np.concatenate([inside, tensor.following_bytes(cols[-1] + 1 - inside.size)])
    naive = tuple(int(stream[c:c + 1].view(np.int8)[0]) if c < stream.size else None for c in cols)
    owners = []
    for c in cols:
        if c < inside.size:
            owners.append(byte_owner(t, c, tensor.row_bytes))
        else:
            past = c - inside.size
            file_byte = tensor.end + past if c < stream.size else None
            owners.append(ByteOwner(c, -1, "", 0, 0, past_end=past, file_byte=file_byte))
    summary = _trap_summary(tensor)
    if any(o.past_end is not None for o in owners):
        summary += " Here there is no next row: those bytes lie past the tensor's end."
    return PlainInt8Trap(cols, naive, tuple(float(values[c]) for c in cols), tuple(owners), summary)


def _trap_summary(tensor: Tensor) -> str:
    t = tensor.type
    first = t.fields[0]
    scales = [f.name for f in t.fields if not f.name.startswith(("q", "ql", "qh"))]
    if first.name in scales:
        inside = f"bytes 0..{first.size - 1} of every block are {first.name}, not codes, so they show up as values"
    else:
        inside = f"the scale fields ({', '.join(scales)}) sit inside every block and show up as values"
    text = f"A consumer that reads this {t.name} row as {tensor.ne[0]} plain int8 values: {inside}, "
    if t.type_size > t.block_size:
        text += f"and every block shifts the codes after it by {t.type_size - t.block_size} more bytes ({t.type_size} bytes hold {t.block_size} elements)."
    else:
        text += (
            f"and {t.block_size} elements fit in {t.type_size} bytes ({t.bits_per_weight:g} bits each), "
            f"so the row is only {tensor.row_bytes} bytes and the last {tensor.ne[0] - tensor.row_bytes} "
            "'values' are read from the next row."
        )
    return text


def _notes(tensor: Tensor):
    t = tensor.type
    if t.block_size > 1 and tensor.n_dims >= 2:
        yield (
            f"rows are {tensor.row_bytes} bytes for {tensor.ne[0]} elements: "
            f"{t.type_size} bytes per {t.block_size} elements, scales included"
        )
    if not t.is_weight_type and t.known and not t.removed:
        yield f"{t.name} is an activation format (ggml converts activations to it); it should not appear as a weight"
    if tensor.byteorder == ">" and t.is_quantized:
        yield "big-endian file: quantized payloads are decoded as little-endian (uncertain; see the reference)"
    if tensor.row_bytes % 64 and tensor.n_dims >= 2 and t.block_size > 0:
        yield f"row stride {tensor.row_bytes} B is not a multiple of 64: rows are not cache-line aligned"


def _extent_note(tensor: Tensor) -> str:
    how = "inferred from the next tensor's offset" if tensor.extent_inferred else "declared"
    return f"{tensor.nbytes} raw bytes at byte {tensor.offset} ({how})"


# -- text ---------------------------------------------------------------
def render_text(e: Explanation) -> str:
    """The explanation as plain text lines."""
    ne = ", ".join(map(str, e.ne))
    lines = [f"{e.tensor}: {e.type} (type id {e.type_id}), ne = [{ne}], {e.nbytes} bytes at byte {e.offset}"]
    if e.description:
        lines.append(f"  {e.description}")
    if e.block_size:
        lines.append(f"block: {e.block_size} element(s) in {e.type_size} bytes, {e.bits_per_weight:g} bits per weight")
        for f in e.fields:
            lines.append(f"  @{f.offset:<4} {f.name:<8} {f.size:>4} B  {f.ctype:<14} {f.meaning}")
    if e.strides:
        lines.append("strides:")
        width = max(len(s.arithmetic) for s in e.strides)
        for s in e.strides:
            lines.append(f"  {s.name} = {s.arithmetic:<{width}}   {s.meaning}")
    if e.element is not None:
        lines.extend(element_lines(e, e.element))
    if e.trap is not None:
        lines.extend(_trap_text(e.trap))
    if e.notes:
        lines.append("notes:")
        lines.extend(f"  - {n}" for n in e.notes)
    return "\n".join(printable(line) for line in lines)


def element_lines(e: Explanation, loc: ElementLocation) -> list[str]:
    """The text lines that work one element out from its bytes (used by ``str()`` and the TUI)."""
    a = loc.anatomy
    idx = ", ".join(map(str, loc.index))
    lines = [
        f"element (row {loc.row}, col {loc.col}) = index [{idx}] in ggml order:",
        f"  block {loc.block_in_row} of the row, element {loc.element_in_block} of the block",
        f"  block at byte {loc.block_offset_arithmetic}",
        f"  block bytes: {loc.block_hex}",
    ]
    for s in a.quant:
        bits = f" bits {s.bits[0]}..{s.bits[1]}" if s.bits else ""
        span = f"bytes {loc.block_offset + s.byte}..{loc.block_offset + s.byte + s.size - 1}" if s.size > 1 else f"byte {loc.block_offset + s.byte}"
        lines.append(f"  code: {s.role}, block byte {s.byte}{bits} → file {span}")
    for term in a.terms:
        lines.append(f"  {term.name} = {shortest_text(term.value) if isinstance(term.value, float) else term.value}  ({term.source})")
    lines.append(f"  {a.formula}")
    check = "matches" if loc.matches else "DOES NOT MATCH"
    lines.append(f"  {a.worked}   (dequantized: {shortest_text(loc.dequantized)}, {check})")
    return lines


def _trap_text(trap: PlainInt8Trap) -> list[str]:
    lines = ["read as plain int8 (the trap):", f"  {trap.summary}"]
    lines.append(f"  {'col':>6} {'as int8':>8} {'true value':>14}  byte really is")
    for c, n, v, o in zip(trap.cols, trap.naive, trap.true_values, trap.owners):
        lines.append(f"  {c:>6} {'—' if n is None else n:>8} {shortest_text(v):>14}  {o.describe()}")
    return lines

