"""Parse a GGUF header: version, byte order, key/value metadata, tensor infos.

Every read is bounds-checked against the file size and reports the byte
offset it failed at. Keys and tensor names are quoted escaped and clipped in
messages (a name can hold control characters or be 100,000 characters long). Arrays are not decoded: fixed-size arrays are skipped
in O(1), string arrays by one tight walk over their length prefixes.
"""

from __future__ import annotations

import struct
from itertools import repeat
from dataclasses import dataclass
from typing import Any, Optional

from layoutscope.errors import quoted
from layoutscope.gguf.errors import GGUFError
from layoutscope.gguf.values import FIXED_SIZE, STRUCT_CODE, MetadataArray, ValueType, decode_text

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
# Smallest possible records, used to reject impossible counts before looping.
_MIN_KV_BYTES = 8 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8


@dataclass(frozen=True)
class MetadataEntry:
    """One key/value pair: its value type, decoded value and file position."""

    key: str
    type: ValueType
    value: Any
    offset: int
    element_type: Optional[ValueType] = None

    @property
    def type_name(self) -> str:
        """``UINT32``, or ``ARRAY[STRING]`` for arrays."""
        if self.type == ValueType.ARRAY and self.element_type is not None:
            return f"ARRAY[{self.element_type.name}]"
        return self.type.name


@dataclass(frozen=True)
class TensorInfo:
    """One tensor-info record as stored (offset relative to the data section)."""

    name: str
    ne: tuple[int, ...]
    type_id: int
    offset: int
    record_offset: int
    type_field_offset: int
    offset_field_offset: int


@dataclass(frozen=True)
class Header:
    """Everything before the tensor data of one GGUF file."""

    version: int
    byteorder: str
    n_tensors: int
    n_kv: int
    entries: dict
    infos: tuple
    alignment: int
    infos_end: int
    data_start: int
    warnings: tuple


class _Cursor:
    """A read position in the file buffer with checked, byte-order-aware reads."""

    __slots__ = ("buf", "size", "pos", "bo", "_u32", "_u64", "_i32", "_i64")

    def __init__(self, buf, size: int, byteorder: str, pos: int):
        self.buf = buf
        self.size = size
        self.pos = pos
        self.bo = byteorder
        self._u32 = struct.Struct(byteorder + "I").unpack_from
        self._u64 = struct.Struct(byteorder + "Q").unpack_from
        self._i32 = struct.Struct(byteorder + "i").unpack_from
        self._i64 = struct.Struct(byteorder + "q").unpack_from

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.size:
            raise GGUFError(
                f"file is truncated: {what} needs {n} bytes but only "
                f"{max(0, self.size - self.pos)} remain (file size {self.size})",
                offset=self.pos,
                hint="the download or copy is probably incomplete",
            )

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = self._u32(self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self, what: str) -> int:
        self.need(8, what)
        (v,) = self._u64(self.buf, self.pos)
        self.pos += 8
        return v

    def i64(self, what: str) -> int:
        self.need(8, what)
        (v,) = self._i64(self.buf, self.pos)
        self.pos += 8
        return v

    def length(self, what: str, unit: int = 1, items: str = "") -> int:
        """A u64 length, or a count of ``items`` of at least ``unit`` bytes each, that must fit in the rest of the file."""
        at = self.pos
        n = self.u64(what)
        remain = self.size - self.pos
        if n * unit > remain:
            if unit == 1:
                raise GGUFError(f"{what} is {n}, larger than the rest of the file ({remain} bytes remain)",
                                offset=at, hint="the file is corrupt")
            # A count is not a byte size: say what it needs, which is what is known.
            raise GGUFError(
                f"{what} is {n}: {n} {items} need at least {n * unit} bytes but only {remain} remain, "
                "so the file is truncated",
                offset=at,
                hint="the download or copy is probably incomplete, or the count is corrupt",
            )
        return n

    def string(self, what: str) -> str:
        n = self.length(f"length of {what}")
        start = self.pos
        self.pos += n
        return decode_text(self.buf[start : self.pos])


def detect_byteorder(buf, size: int) -> tuple[str, int]:
    """Check the magic and find the byte order with GGUF's version trick.

    A version whose low 16 bits read as zero in little-endian order was
    written big-endian (v3 big-endian reads as 0x03000000).
    """
    if size < 8:
        if size < 4 or bytes(buf[:4]) != MAGIC[:size]:
            raise GGUFError(
                f"not a GGUF file: {size} bytes is too short for a GGUF header",
                offset=0,
                hint="expected the magic 'GGUF' followed by a version",
            )
        raise GGUFError("file is truncated inside the header", offset=size)
    magic = bytes(buf[:4])
    if magic != MAGIC:
        raise GGUFError(
            f"not a GGUF file: magic is {magic!r}, expected b'GGUF'",
            offset=0,
            hint="is this a safetensors, .bin or .rknn file?",
        )
    (version,) = struct.unpack_from("<I", buf, 4)
    byteorder = "<"
    if version & 0xFFFF == 0 and version != 0:
        byteorder = ">"
        (version,) = struct.unpack_from(">I", buf, 4)
    if version == 1:
        raise GGUFError(
            "GGUF v1 is obsolete (32-bit counts, dropped by llama.cpp in Nov 2023)",
            offset=4,
            hint="re-convert the model with a current llama.cpp convert script",
        )
    if version not in (2, 3):
        raise GGUFError(
            f"unsupported GGUF version {version}; layoutscope reads versions 2 and 3",
            offset=4,
            hint="the file is corrupt or from a newer GGUF revision",
        )
    return byteorder, version


def parse_header(buf, size: int) -> Header:
    """Parse the header, metadata and tensor infos of a GGUF file in ``buf``."""
    byteorder, version = detect_byteorder(buf, size)
    cur = _Cursor(buf, size, byteorder, 8)
    warnings: list[str] = []
    if byteorder == ">":
        warnings.append(
            "big-endian GGUF: llama.cpp on a little-endian host refuses this file; "
            "quantized payloads are decoded little-endian, as gguf-py writes them (uncertain)"
        )
    # Read both counts before judging either: a file cut inside the second
    # count is truncated, not corrupt.
    counts_at = cur.pos
    n_tensors = cur.u64("tensor count")
    n_kv = cur.u64("metadata key/value count")
    _check_count(cur, n_tensors, "tensor count", _MIN_TENSOR_INFO_BYTES, counts_at)
    _check_count(cur, n_kv, "metadata key/value count", _MIN_KV_BYTES, counts_at + 8)

    entries: dict[str, MetadataEntry] = {}
    for _ in range(n_kv):
        entry = _read_entry(cur, warnings)
        if entry.key in entries:
            raise GGUFError(
                f"duplicate metadata key {quoted(entry.key)} (first at byte {entries[entry.key].offset})",
                offset=entry.offset,
                hint="ggml and gguf-py both reject this file",
            )
        entries[entry.key] = entry

    alignment = _alignment(entries)
    infos = []
    names: dict[str, int] = {}
    for _ in range(n_tensors):
        info = _read_tensor_info(cur)
        if info.name in names:
            raise GGUFError(
                f"duplicate tensor name {quoted(info.name)} (first at byte {names[info.name]})",
                offset=info.record_offset,
            )
        names[info.name] = info.record_offset
        infos.append(info)
    infos_end = cur.pos
    data_start = infos_end + (-infos_end % alignment)
    return Header(
        version=version,
        byteorder=byteorder,
        n_tensors=n_tensors,
        n_kv=n_kv,
        entries=entries,
        infos=tuple(infos),
        alignment=alignment,
        infos_end=infos_end,
        data_start=data_start,
        warnings=tuple(warnings),
    )


def _check_count(cur: _Cursor, n: int, what: str, min_record: int, at: int) -> None:
    if n * min_record > cur.size - cur.pos:
        raise GGUFError(
            f"{what} is {n}, but even the smallest records would need "
            f"{n * min_record} bytes and only {cur.size - cur.pos} remain",
            offset=at,
            hint="the file is truncated, or the count is corrupt",
        )


def _value_type(cur: _Cursor, what: str) -> ValueType:
    at = cur.pos
    raw = cur.u32(what)
    try:
        return ValueType(raw)
    except ValueError:
        raise GGUFError(
            f"unknown metadata value type {raw} in {what}; GGUF defines types 0..12",
            offset=at,
        ) from None


def _read_entry(cur: _Cursor, warnings: list) -> MetadataEntry:
    offset = cur.pos
    key = cur.string("metadata key")
    if not key:
        raise GGUFError("empty metadata key", offset=offset)
    label = quoted(key)
    vtype = _value_type(cur, f"value type of {label}")
    if vtype == ValueType.ARRAY:
        value, etype = _read_array(cur, label)
        return MetadataEntry(key, vtype, value, offset, etype)
    value = _read_scalar(cur, vtype, label)
    if vtype == ValueType.BOOL and value not in (0, 1):
        warnings.append(f"key {label}: BOOL stored as {value} (the spec allows only 0 or 1)")
    if vtype == ValueType.BOOL:
        value = bool(value)
    return MetadataEntry(key, vtype, value, offset)


def _read_scalar(cur: _Cursor, vtype: ValueType, label: str) -> Any:
    """One scalar value; ``label`` is the key as quoted in messages."""
    if vtype == ValueType.STRING:
        return cur.string(f"value of {label}")
    size = FIXED_SIZE[vtype]
    cur.need(size, f"value of {label}")
    (value,) = struct.unpack_from(cur.bo + STRUCT_CODE[vtype], cur.buf, cur.pos)
    cur.pos += size
    return value


def _read_array(cur: _Cursor, label: str) -> tuple[MetadataArray, ValueType]:
    """An array value, left undecoded; ``label`` is the key as quoted in messages."""
    etype_at = cur.pos
    etype = _value_type(cur, f"element type of array {label}")
    if etype == ValueType.ARRAY:
        raise GGUFError(
            f"array {label} holds arrays; nested arrays are not supported by ggml",
            offset=etype_at,
            hint="ggml's reader rejects this file too",
        )
    # A string takes at least its 8-byte length prefix.
    unit = 8 if etype == ValueType.STRING else FIXED_SIZE[etype]
    items = "strings" if etype == ValueType.STRING else f"{etype.name} values"
    count = cur.length(f"element count of array {label}", unit, items)
    start = cur.pos
    if etype == ValueType.STRING:
        cur.pos = _skip_strings(cur, start, count, label)
    else:
        cur.pos = start + count * unit
    return MetadataArray(cur.buf, cur.bo, etype, count, start, cur.pos), etype


def _skip_strings(cur: _Cursor, start: int, count: int, label: str) -> int:
    """End of a string array; the hot loop of opening a big vocabulary. ``label`` is the quoted key."""
    unpack = cur._u64
    buf = cur.buf
    pos = start
    # Only the end is checked: positions only grow, so an end inside the file means every length prefix
    # was read inside it too; a prefix read past the end raises. Eight elements a turn and itertools.repeat
    # trim the loop's own overhead (about a fifth of the time on a 262,144-token vocabulary).
    try:
        for _ in repeat(None, count >> 3):
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
        for _ in repeat(None, count & 7):
            (n,) = unpack(buf, pos); pos += 8 + n  # noqa: E702
    except (struct.error, OverflowError):
        pos = cur.size + 1  # ran off the end: locate the bad element below
    if pos <= cur.size:
        return pos
    # Slow path only for corrupt files: find the element that overruns.
    pos = start
    for i in range(count):
        if pos + 8 > cur.size:
            raise GGUFError(
                f"file is truncated inside array {label} at element {i} of {count}",
                offset=pos,
                hint="the download or copy is probably incomplete",
            )
        (n,) = unpack(buf, pos)
        if pos + 8 + n > cur.size:
            raise GGUFError(
                f"string {i} of array {label} claims {n} bytes, more than the "
                f"{cur.size - pos - 8} left in the file",
                offset=pos,
                hint="the file is corrupt or truncated",
            )
        pos += 8 + n
    return pos  # pragma: no cover - the fast path would have succeeded


def _alignment(entries: dict) -> int:
    entry = entries.get("general.alignment")
    if entry is None:
        return DEFAULT_ALIGNMENT
    if entry.type != ValueType.UINT32:
        raise GGUFError(
            f"general.alignment must be UINT32, found {entry.type_name}",
            offset=entry.offset,
            hint="ggml and gguf-py both reject this file",
        )
    value = entry.value
    if value == 0 or value & (value - 1):
        raise GGUFError(
            f"general.alignment is {value}; it must be a non-zero power of two",
            offset=entry.offset,
        )
    return value


def _read_tensor_info(cur: _Cursor) -> TensorInfo:
    record = cur.pos
    name = cur.string("tensor name")
    label = quoted(name)
    dims_at = cur.pos
    n_dims = cur.u32(f"dimension count of tensor {label}")
    if n_dims > MAX_DIMS:
        raise GGUFError(
            f"tensor {label} has {n_dims} dimensions; ggml allows at most {MAX_DIMS}",
            offset=dims_at,
        )
    ne = []
    for d in range(n_dims):
        at = cur.pos
        n = cur.i64(f"ne[{d}] of tensor {label}")
        if n < 0:
            raise GGUFError(f"tensor {label} has negative ne[{d}] = {n}", offset=at)
        ne.append(n)
    type_at = cur.pos
    type_id = cur.u32(f"type of tensor {label}")
    offset_at = cur.pos
    offset = cur.u64(f"data offset of tensor {label}")
    return TensorInfo(name, tuple(ne), type_id, offset, record, type_at, offset_at)
