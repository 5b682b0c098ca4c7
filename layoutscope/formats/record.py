"""The record that describes one ggml type, and the anatomy of one element.

A :class:`GGMLType` is everything layoutscope knows about a type id: its
name and sizes (the :class:`~layoutscope.formats.sizes.TypeSize` it holds),
the byte layout of its block (:class:`Field`), how to dequantize a run of
blocks (vectorised numpy), and how to explain where one element's bits live
(:class:`ElementAnatomy`). Family modules (``legacy``, ``kquants``, ...)
build the records; ``registry`` indexes them by id and name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from layoutscope.formats.sizes import TypeSize

#: Dequantizer signature: ``(blocks uint8 (n_blocks, type_size), byteorder) -> float32 (n_blocks, block_size)``.
#: ``byteorder`` is ``"<"`` or ``">"``; only plain (non-block) types honour it,
#: because quantized payloads are little-endian even in big-endian files.
Dequantizer = Callable[[np.ndarray, str], np.ndarray]

#: Anatomy signature: ``(one block as bytes, element index in block, byteorder) -> ElementAnatomy``.
Anatomist = Callable[[bytes, int, str], "ElementAnatomy"]


@dataclass(frozen=True)
class Field:
    """One field of a block struct, e.g. Q8_0's ``d`` at byte 0, 2 bytes."""

    name: str
    offset: int
    size: int
    ctype: str
    meaning: str

    @property
    def end(self) -> int:
        """One past the last byte of the field."""
        return self.offset + self.size


@dataclass(frozen=True)
class BitSource:
    """Where (part of) an element's quantized code lives inside its block.

    ``bits`` is an inclusive (low, high) bit range inside the byte at
    ``byte``; ``None`` means the whole ``size`` bytes are the code.
    """

    field: str
    byte: int
    bits: Optional[tuple[int, int]]
    role: str
    size: int = 1


@dataclass(frozen=True)
class Term:
    """A named quantity in an element's formula (a scale, a min, a code...)."""

    name: str
    value: float
    source: str
    byte: Optional[int] = None
    size: Optional[int] = None


@dataclass(frozen=True)
class ElementAnatomy:
    """How one element of one block is decoded, worked out from its bytes.

    ``value`` is computed in the same float32 arithmetic as ggml, so it is
    bit-identical to what ``dequantize`` returns for that element.
    """

    element: int
    quant: tuple[BitSource, ...]
    terms: tuple[Term, ...]
    formula: str
    worked: str
    value: float


@dataclass(frozen=True)
class GGMLType:
    """One ggml type id: its name and sizes, block fields, dequantizer and anatomy.

    ``sizes`` is the type's entry in :mod:`~layoutscope.formats.sizes`; ``id``,
    ``name`` (the GGUF enum spelling: ``Q8_0``, ``BF16``), ``block_size``,
    ``type_size``, ``is_quantized``, ``removed``, ``replaced_by`` and ``known``
    read through to it. A removed id keeps its record with ``removed`` True and
    ``replaced_by`` saying what to use. ``is_weight_type`` is False for
    activation-only formats (Q8_1, Q8_K).
    """

    sizes: TypeSize
    vec_dot_type: Optional[str]
    fields: tuple[Field, ...] = ()
    description: str = ""
    family: str = ""
    is_weight_type: bool = True
    dequantizer: Optional[Dequantizer] = field(default=None, repr=False, compare=False)
    anatomist: Optional[Anatomist] = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> int:
        """The ggml type id (``GGML_TYPE_*``)."""
        return self.sizes.id

    @property
    def name(self) -> str:
        """The GGUF enum spelling: ``F32``, ``Q8_0``, ``Q4_K``, ``BF16``."""
        return self.sizes.name

    @property
    def block_size(self) -> int:
        """Elements per block (1 for plain types, 0 for removed and unknown ids)."""
        return self.sizes.block_size

    @property
    def type_size(self) -> int:
        """Bytes per block (0 for removed and unknown ids)."""
        return self.sizes.type_size

    @property
    def is_quantized(self) -> bool:
        """True for block formats with scales (ggml's ``is_quantized`` trait)."""
        return self.sizes.is_quantized

    @property
    def removed(self) -> bool:
        """True for an id ggml removed."""
        return self.sizes.removed

    @property
    def replaced_by(self) -> Optional[str]:
        """What to use instead of a removed id."""
        return self.sizes.replaced_by

    @property
    def known(self) -> bool:
        """False for an id no known ggml defines."""
        return self.sizes.known

    @property
    def bits_per_weight(self) -> Optional[float]:
        """Storage bits per element, scales included (None for removed/unknown)."""
        if self.block_size <= 0:
            return None
        return self.type_size * 8 / self.block_size

    @property
    def can_dequantize(self) -> bool:
        """True when layoutscope can turn this type's bytes into floats."""
        return self.dequantizer is not None

    def row_bytes(self, ne0: int) -> int:
        """Bytes of one row of ``ne0`` elements (ggml_row_size)."""
        return self.sizes.row_bytes(ne0)

    def dequantize(self, raw: np.ndarray, byteorder: str = "<") -> np.ndarray:
        """Dequantize raw bytes to float32.

        ``raw`` is uint8 with shape ``(..., nbytes)``, ``nbytes`` a multiple of
        ``type_size``; the result has shape ``(..., nbytes // type_size * block_size)``.
        """
        if self.dequantizer is None:
            raise NotImplementedError(f"{self.name}: {self.unavailable_reason()}")
        raw = np.asarray(raw)
        if raw.dtype != np.uint8:
            raise TypeError(f"raw bytes must be uint8, got {raw.dtype}")
        *lead, nbytes = raw.shape
        if nbytes % self.type_size:
            raise ValueError(
                f"{nbytes} bytes is not a whole number of {self.type_size}-byte {self.name} blocks"
            )
        blocks = raw.reshape(-1, self.type_size)
        values = self.dequantizer(blocks, byteorder)
        return values.reshape(*lead, nbytes // self.type_size * self.block_size)

    def anatomy(self, block: bytes, element: int, byteorder: str = "<") -> ElementAnatomy:
        """Explain element ``element`` (0-based, within the block) of ``block``."""
        if self.anatomist is None:
            raise NotImplementedError(f"{self.name}: {self.unavailable_reason()}")
        if len(block) != self.type_size:
            raise ValueError(f"{self.name} blocks are {self.type_size} bytes, got {len(block)}")
        if not 0 <= element < self.block_size:
            raise IndexError(f"element {element} is outside a {self.block_size}-element block")
        return self.anatomist(bytes(block), element, byteorder)

    def unavailable_reason(self) -> str:
        """Why values are not available for this type (empty if they are)."""
        reason = self.sizes.unavailable_reason()
        if not reason and self.dequantizer is None:
            return "no dequantizer"
        return reason
