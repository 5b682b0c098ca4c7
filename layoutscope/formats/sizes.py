"""What every ggml type id is called and how big it is: the facts opening a file needs, without numpy.

One :class:`TypeSize` per id: name, block size, bytes per block, whether it
is quantized, and whether ggml removed it (or never defined it). The reader
places tensors and the TUI draws its tree from these alone; the full records
of :mod:`~layoutscope.formats.registry` (fields, dequantizers, anatomy) take
their names and sizes from this table, so each fact is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

#: The first id no known ggml assigns; forks put private formats at or above it.
TYPE_COUNT = 43

#: (id, name, elements per block, bytes per block, quantized) of every type ggml defines today.
_LIVE = (
    (0, "F32", 1, 4, False),
    (1, "F16", 1, 2, False),
    (2, "Q4_0", 32, 18, True),
    (3, "Q4_1", 32, 20, True),
    (6, "Q5_0", 32, 22, True),
    (7, "Q5_1", 32, 24, True),
    (8, "Q8_0", 32, 34, True),
    (9, "Q8_1", 32, 36, True),
    (10, "Q2_K", 256, 84, True),
    (11, "Q3_K", 256, 110, True),
    (12, "Q4_K", 256, 144, True),
    (13, "Q5_K", 256, 176, True),
    (14, "Q6_K", 256, 210, True),
    (15, "Q8_K", 256, 292, True),
    (16, "IQ2_XXS", 256, 66, True),
    (17, "IQ2_XS", 256, 74, True),
    (18, "IQ3_XXS", 256, 98, True),
    (19, "IQ1_S", 256, 50, True),
    (20, "IQ4_NL", 32, 18, True),
    (21, "IQ3_S", 256, 110, True),
    (22, "IQ2_S", 256, 82, True),
    (23, "IQ4_XS", 256, 136, True),
    (24, "I8", 1, 1, False),
    (25, "I16", 1, 2, False),
    (26, "I32", 1, 4, False),
    (27, "I64", 1, 8, False),
    (28, "F64", 1, 8, False),
    (29, "IQ1_M", 256, 56, True),
    (30, "BF16", 1, 2, False),
    (34, "TQ1_0", 256, 54, True),
    (35, "TQ2_0", 256, 66, True),
    (39, "MXFP4", 32, 17, True),
    (40, "NVFP4", 64, 36, True),
    (41, "Q1_0", 128, 18, True),
    (42, "Q2_0", 64, 18, True),
)

#: (id, name, what to do instead) of the ids ggml removed. They keep a record, so that an old or odd
#: file is explained rather than rejected blindly.
_REMOVED = (
    (4, "Q4_2", "removed in 2023, before GGUF existed; re-quantize from the original weights"),
    (5, "Q4_3", "removed in 2023, before GGUF existed; re-quantize from the original weights"),
    (31, "Q4_0_4_4", "removed from GGUF files in Dec 2024; use Q4_0 (ggml repacks it at load time)"),
    (32, "Q4_0_4_8", "removed from GGUF files in Dec 2024; use Q4_0 (ggml repacks it at load time)"),
    (33, "Q4_0_8_8", "removed from GGUF files in Dec 2024; use Q4_0 (ggml repacks it at load time)"),
    (36, "IQ4_NL_4_4", "removed from GGUF files in Dec 2024; use IQ4_NL (ggml repacks it at load time)"),
    (37, "IQ4_NL_4_8", "removed from GGUF files in Dec 2024; use IQ4_NL (ggml repacks it at load time)"),
    (38, "IQ4_NL_8_8", "removed from GGUF files in Dec 2024; use IQ4_NL (ggml repacks it at load time)"),
)


@dataclass(frozen=True, slots=True)
class TypeSize:
    """The name and sizes of one ggml type id.

    ``block_size`` is elements per block and ``type_size`` bytes per block;
    both are 0 for a removed id (``removed``, with ``replaced_by`` saying what
    to use) and for an id no known ggml defines (``known`` False).
    """

    id: int
    name: str
    block_size: int
    type_size: int
    is_quantized: bool
    removed: bool = False
    replaced_by: Optional[str] = None
    known: bool = True

    @property
    def has_layout(self) -> bool:
        """True when blocks, rows and strides are defined (a live type)."""
        return self.block_size > 0

    def row_bytes(self, ne0: int) -> int:
        """Bytes of one row of ``ne0`` elements (ggml_row_size)."""
        return ne0 // self.block_size * self.type_size

    def unavailable_reason(self) -> str:
        """Why a removed or unknown id has no values (empty for a live type)."""
        if not self.known:
            return (
                f"type id {self.id} is not a ggml type layoutscope knows "
                "(forks use ids >= 43 for private formats); only raw bytes can be shown"
            )
        if self.removed:
            return f"type id {self.id} was removed from ggml; {self.replaced_by}"
        return ""


def _build() -> tuple[dict, dict]:
    rows = [TypeSize(i, name, block, size, quantized) for i, name, block, size, quantized in _LIVE]
    rows += [TypeSize(i, name, 0, 0, False, removed=True, replaced_by=why) for i, name, why in _REMOVED]
    by_id = {row.id: row for row in sorted(rows, key=lambda row: row.id)}
    return by_id, {row.name: row for row in by_id.values()}


_BY_ID, _BY_NAME = _build()


def all_sizes() -> tuple[TypeSize, ...]:
    """Every id 0..TYPE_COUNT-1, in id order (removed ids included)."""
    return tuple(_BY_ID.values())


@lru_cache(maxsize=None)
def _unknown(type_id: int) -> TypeSize:
    return TypeSize(type_id, f"unknown({type_id})", 0, 0, False, known=False)


def sizes_of(name_or_id: "str | int") -> TypeSize:
    """The sizes of a type by id (``8``) or name (``"Q8_0"``, ``"q8_0"``, ``"8"``).

    An id no known ggml defines (>= 43, forks' private types) gives an
    ``unknown(ID)`` entry; a negative id or an unknown *name* raises KeyError.
    """
    if isinstance(name_or_id, int):
        found = _BY_ID.get(name_or_id)
        if found is not None:
            return found
        if name_or_id < 0:
            raise KeyError(f"type id must be >= 0, got {name_or_id}")
        return _unknown(name_or_id)
    key = str(name_or_id).strip().upper()
    if key.isdigit():
        return sizes_of(int(key))
    found = _BY_NAME.get(key)
    if found is None:
        known = ", ".join(row.name for row in _BY_ID.values() if not row.removed)
        raise KeyError(f"unknown ggml type {name_or_id!r}; known types: {known}")
    return found
