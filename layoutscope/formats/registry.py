"""The ggml type registry: one :class:`GGMLType` per id 0..42, by id and by name.

Records come from the family modules; this module adds the ids ggml removed
(kept so that old or odd files are explained, not rejected blindly) and
builds ``unknown(ID)`` records for ids newer than anything we know.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

from layoutscope.formats.record import GGMLType

#: The first id no known ggml assigns; forks put private formats at or above it.
TYPE_COUNT = 43

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


def _removed_records() -> list[GGMLType]:
    return [
        GGMLType(
            id=type_id,
            name=name,
            block_size=0,
            type_size=0,
            is_quantized=False,
            vec_dot_type=None,
            description=f"{name}: no longer a valid GGUF tensor type",
            family="removed",
            removed=True,
            replaced_by=replacement,
            is_weight_type=False,
        )
        for type_id, name, replacement in _REMOVED
    ]


@lru_cache(maxsize=1)
def _tables() -> tuple[MappingProxyType, MappingProxyType]:
    from layoutscope.formats import floats, fp4, iquants, kquants, legacy, ternary

    records: list[GGMLType] = _removed_records()
    for family in (floats, legacy, kquants, iquants, ternary, fp4):
        records.extend(family.TYPES)
    by_id = {r.id: r for r in records}
    if len(by_id) != len(records):
        raise RuntimeError("type registry lists an id twice")
    by_name = {r.name.upper(): r for r in records}
    return MappingProxyType(dict(sorted(by_id.items()))), MappingProxyType(by_name)


def all_types() -> tuple[GGMLType, ...]:
    """Every record for ids 0..42, in id order (removed ids included)."""
    return tuple(_tables()[0].values())


@lru_cache(maxsize=None)
def unknown_type(type_id: int) -> GGMLType:
    """A placeholder record for an id no known ggml defines."""
    return GGMLType(
        id=type_id,
        name=f"unknown({type_id})",
        block_size=0,
        type_size=0,
        is_quantized=False,
        vec_dot_type=None,
        description="not a type this version of layoutscope knows",
        family="unknown",
        is_weight_type=False,
        known=False,
    )


def ggml_type(name_or_id: "str | int") -> GGMLType:
    """Look a type up by id (``8``) or by name (``"Q8_0"``, ``"q8_0"``).

    Unknown ids (>= 43, forks' private types) give an ``unknown(ID)`` record;
    an unknown *name* raises KeyError listing the known ones.
    """
    by_id, by_name = _tables()
    if isinstance(name_or_id, int):
        if name_or_id in by_id:
            return by_id[name_or_id]
        if name_or_id < 0:
            raise KeyError(f"type id must be >= 0, got {name_or_id}")
        return unknown_type(name_or_id)
    key = str(name_or_id).strip().upper()
    if key.isdigit():
        return ggml_type(int(key))
    if key in by_name:
        return by_name[key]
    known = ", ".join(r.name for r in by_id.values() if not r.removed)
    raise KeyError(f"unknown ggml type {name_or_id!r}; known types: {known}")
