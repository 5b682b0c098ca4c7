"""GGUF metadata value types, and lazy arrays that decode only on access.

A 262,144-token vocabulary is never turned into Python objects at open time:
:class:`MetadataArray` keeps the element type, the count and the byte range,
and decodes elements when they are indexed or sliced.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, Iterator, Union


class ValueType(IntEnum):
    """The 13 GGUF metadata value types (``gguf_type``)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


#: struct format letter of each fixed-size value type.
STRUCT_CODE = {
    ValueType.UINT8: "B",
    ValueType.INT8: "b",
    ValueType.UINT16: "H",
    ValueType.INT16: "h",
    ValueType.UINT32: "I",
    ValueType.INT32: "i",
    ValueType.FLOAT32: "f",
    ValueType.BOOL: "B",
    ValueType.UINT64: "Q",
    ValueType.INT64: "q",
    ValueType.FLOAT64: "d",
}

#: Bytes per element of each fixed-size value type.
FIXED_SIZE = {t: struct.calcsize("<" + c) for t, c in STRUCT_CODE.items()}

#: numpy dtype character of each fixed-size value type (without byte order).
NUMPY_CODE = {
    ValueType.UINT8: "u1",
    ValueType.INT8: "i1",
    ValueType.UINT16: "u2",
    ValueType.INT16: "i2",
    ValueType.UINT32: "u4",
    ValueType.INT32: "i4",
    ValueType.FLOAT32: "f4",
    ValueType.BOOL: "u1",
    ValueType.UINT64: "u8",
    ValueType.INT64: "i8",
    ValueType.FLOAT64: "f8",
}


def decode_text(raw: bytes) -> str:
    """GGUF strings are UTF-8; bad bytes are shown, not fatal."""
    return raw.decode("utf-8", errors="replace")


# Up to this index, a string element is found by walking from the start
# instead of building the full offset index (cheap for previews).
_WALK_LIMIT = 256


class MetadataArray(Sequence):
    """A GGUF array value, decoded lazily from the file's memory map.

    ``len()`` is free; indexing and slicing decode only what is asked for.
    Numeric arrays also offer :meth:`to_numpy` (a zero-copy view when the
    byte order matches).
    """

    __slots__ = ("_buf", "_byteorder", "element_type", "count", "start", "end", "_starts")

    def __init__(self, buf, byteorder: str, element_type: ValueType, count: int, start: int, end: int):
        self._buf = buf
        self._byteorder = byteorder
        self.element_type = element_type
        self.count = count
        self.start = start
        self.end = end
        self._starts = None

    @property
    def nbytes(self) -> int:
        """Size of the array payload in the file."""
        return self.end - self.start

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Union[int, slice]) -> Any:
        if isinstance(index, slice):
            return [self._element(i) for i in range(*index.indices(self.count))]
        i = index.__index__()
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"array index {index} out of range for {self.count} elements")
        return self._element(i)

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.count):
            yield self._element(i)

    def __repr__(self) -> str:
        return (
            f"<MetadataArray {self.element_type.name}[{self.count}] "
            f"bytes {self.start}..{self.end}>"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MetadataArray):
            return list(self) == list(other)
        if isinstance(other, (list, tuple)):
            return len(other) == self.count and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def head(self, n: int) -> list:
        """The first ``n`` elements (for previews)."""
        return self[: max(0, n)]

    def to_numpy(self):
        """The whole numeric array as numpy (a view of the file when possible)."""
        import numpy as np

        if self.element_type == ValueType.STRING:
            raise TypeError("a string array has no numpy form; index or slice it instead")
        dtype = np.dtype(self._byteorder + NUMPY_CODE[self.element_type])
        values = np.frombuffer(self._buf, dtype=dtype, count=self.count, offset=self.start)
        if self.element_type == ValueType.BOOL:
            return values != 0
        return values

    def _element(self, i: int) -> Any:
        t = self.element_type
        if t == ValueType.STRING:
            start = self._string_start(i)
            (length,) = struct.unpack_from(self._byteorder + "Q", self._buf, start)
            return decode_text(self._buf[start + 8 : start + 8 + length])
        size = FIXED_SIZE[t]
        (value,) = struct.unpack_from(self._byteorder + STRUCT_CODE[t], self._buf, self.start + i * size)
        return bool(value) if t == ValueType.BOOL else value

    def _string_start(self, i: int) -> int:
        if self._starts is None and i < _WALK_LIMIT:
            unpack = struct.Struct(self._byteorder + "Q").unpack_from
            pos = self.start
            for _ in range(i):
                pos += 8 + unpack(self._buf, pos)[0]
            return pos
        if self._starts is None:
            self._starts = string_starts(self._buf, self._byteorder, self.start, self.count)
        return self._starts[i]


def string_starts(buf, byteorder: str, start: int, count: int) -> array:
    """Byte offsets of each element of a string array (already bounds-checked)."""
    unpack = struct.Struct(byteorder + "Q").unpack_from
    starts = array("Q", bytes(8 * count))
    pos = start
    for i in range(count):
        starts[i] = pos
        pos += 8 + unpack(buf, pos)[0]
    return starts
