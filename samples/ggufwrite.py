"""A small GGUF builder for samples and tests: explicit value types, any type id.

gguf-py's writer cannot emit ids it does not know (Q2_0 = 42, forks' ids
>= 43) nor deliberately odd files, so samples and tests build files here.
This writes *new* files only; layoutscope never modifies a model.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Optional, Sequence

# GGUF metadata value type ids.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_CODES = {UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", UINT32: "I", INT32: "i",
          FLOAT32: "f", BOOL: "?", UINT64: "Q", INT64: "q", FLOAT64: "d"}


@dataclass
class _Tensor:
    name: str
    ne: tuple
    type_id: int
    data: bytes
    offset: Optional[int]


class GGUFBuilder:
    """Collects metadata and tensors, then lays out a GGUF file as bytes.

    Tensor offsets are assigned sequentially with alignment padding unless
    given explicitly (tests use that to make gaps and overlaps).
    """

    def __init__(self, byteorder: str = "<", version: int = 3, alignment: Optional[int] = None):
        self.bo = byteorder
        self.version = version
        self.alignment = alignment or 32
        self.kv: list[tuple[str, int, Any, Optional[int]]] = []
        self.tensors: list[_Tensor] = []
        if alignment is not None:
            self.add("general.alignment", UINT32, alignment)

    def add(self, key: str, vtype: int, value: Any, element_type: Optional[int] = None) -> "GGUFBuilder":
        """Add a key with an explicit value type (``ARRAY`` needs ``element_type``)."""
        self.kv.append((key, vtype, value, element_type))
        return self

    def add_tensor(self, name: str, ne: Sequence[int], type_id: int, data: bytes,
                   offset: Optional[int] = None) -> "GGUFBuilder":
        """Add a tensor: ``ne`` in ggml order, ``data`` its raw bytes."""
        self.tensors.append(_Tensor(name, tuple(ne), type_id, bytes(data), offset))
        return self

    # -- encoding -----------------------------------------------------------
    def _pack(self, code: str, value) -> bytes:
        return struct.pack(self.bo + code, value)

    def _string(self, text) -> bytes:
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return self._pack("Q", len(raw)) + raw

    def _value(self, vtype: int, value, element_type: Optional[int]) -> bytes:
        if vtype == STRING:
            return self._string(value)
        if vtype == ARRAY:
            out = [self._pack("I", element_type), self._pack("Q", len(value))]
            if element_type == STRING:
                out.extend(self._string(v) for v in value)
            elif element_type == ARRAY:
                out.extend(self._value(ARRAY, v[1], v[0]) for v in value)
            else:
                out.append(struct.pack(f"{self.bo}{len(value)}{_CODES[element_type]}", *value))
            return b"".join(out)
        return self._pack(_CODES[vtype], value)

    def header_bytes(self) -> bytes:
        """Magic through the last tensor info (no padding)."""
        parts = [b"GGUF", self._pack("I", self.version), self._pack("Q", len(self.tensors)),
                 self._pack("Q", len(self.kv))]
        for key, vtype, value, etype in self.kv:
            parts += [self._string(key), self._pack("I", vtype), self._value(vtype, value, etype)]
        for t, offset in zip(self.tensors, self._offsets()):
            parts += [self._string(t.name), self._pack("I", len(t.ne))]
            parts += [self._pack("Q", n) for n in t.ne]
            parts += [self._pack("I", t.type_id), self._pack("Q", offset)]
        return b"".join(parts)

    def _offsets(self) -> list[int]:
        offsets, pos = [], 0
        for t in self.tensors:
            off = t.offset if t.offset is not None else pos
            offsets.append(off)
            end = off + len(t.data)
            pos = max(pos, end + (-end % self.alignment))
        return offsets

    def to_bytes(self) -> bytes:
        """The complete file."""
        head = self.header_bytes()
        data_start = len(head) + (-len(head) % self.alignment)
        offsets = self._offsets()
        size = max([0] + [o + len(t.data) for o, t in zip(offsets, self.tensors)])
        size += -size % self.alignment
        blob = bytearray(size)
        for o, t in zip(offsets, self.tensors):
            blob[o : o + len(t.data)] = t.data
        return head + bytes(data_start - len(head)) + bytes(blob)

    def write(self, path) -> None:
        """Write the file to ``path``."""
        with open(path, "wb") as f:
            f.write(self.to_bytes())
