"""The ggml type registry: one :class:`GGMLType` per id 0..42, by id and by name.

Records come from the family modules; this module adds the ids ggml removed
(kept so that old or odd files are explained, not rejected blindly) and
builds ``unknown(ID)`` records for ids newer than anything we know. Names,
sizes and which ids are removed come from :mod:`~layoutscope.formats.sizes`.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

from layoutscope.formats.record import GGMLType
from layoutscope.formats.sizes import TYPE_COUNT, all_sizes, sizes_of

__all__ = ["TYPE_COUNT", "all_types", "ggml_type", "unknown_type"]


def _removed_records() -> list[GGMLType]:
    return [
        GGMLType(
            sizes,
            vec_dot_type=None,
            description=f"{sizes.name}: no longer a valid GGUF tensor type",
            family="removed",
            is_weight_type=False,
        )
        for sizes in all_sizes()
        if sizes.removed
    ]


@lru_cache(maxsize=1)
def _by_id() -> MappingProxyType:
    from layoutscope.formats import floats, fp4, iquants, kquants, legacy, ternary

    records: list[GGMLType] = _removed_records()
    for family in (floats, legacy, kquants, iquants, ternary, fp4):
        records.extend(family.TYPES)
    by_id = {r.id: r for r in records}
    if len(by_id) != len(records):
        raise RuntimeError("type registry lists an id twice")
    return MappingProxyType(dict(sorted(by_id.items())))


def all_types() -> tuple[GGMLType, ...]:
    """Every record for ids 0..42, in id order (removed ids included)."""
    return tuple(_by_id().values())


@lru_cache(maxsize=None)
def unknown_type(type_id: int) -> GGMLType:
    """A placeholder record for an id no known ggml defines."""
    return GGMLType(
        sizes_of(type_id),
        vec_dot_type=None,
        description="not a type this version of layoutscope knows",
        family="unknown",
        is_weight_type=False,
    )


def ggml_type(name_or_id: "str | int") -> GGMLType:
    """Look a type up by id (``8``) or by name (``"Q8_0"``, ``"q8_0"``).

    Unknown ids (>= 43, forks' private types) give an ``unknown(ID)`` record;
    an unknown *name* raises KeyError listing the known ones.
    """
    sizes = sizes_of(name_or_id)
    if not sizes.known:
        return unknown_type(sizes.id)
    return _by_id()[sizes.id]
