"""Tensor: one tensor of a GGUF model, its ggml layout and lazy access to its bytes.

Rows are the unit of access: a tensor with ``ne = [ne0, ne1, ne2, ne3]`` is
viewed as ``ne1·ne2·ne3`` rows of ``ne0`` elements, ``nb[1]`` bytes each.
``raw()`` returns views of the memory map and ``dequantize()`` decodes only
the rows asked for, so a window deep inside a huge embedding costs the same
as one at row 0. A tensor is placed and described from its type's entry in
the size table (numpy-free); the full type record, with its dequantizer, is
loaded when ``.type`` is first read.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Optional, Union

from layoutscope.errors import printable, quoted
from layoutscope.formats.sizes import TypeSize

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from layoutscope.formats import GGMLType
    from layoutscope.gguf.shard import Shard

#: Layer prefixes used by llama.cpp's tensor names: blk.N., enc.blk.N., dec.blk.N.,
#: v.blk.N. (vision), a.blk.N. (audio), v.sam.blk.N.
LAYER_PATTERN = re.compile(r"^(?:(?P<group>enc|dec|v|a|v\.sam)\.)?blk\.(?P<layer>\d+)\.(?P<role>.+)$")

Rows = Union[None, int, slice, range]


class EmptyTensorError(ValueError):
    """A command needs a tensor's data, and the tensor has none (a zero dimension)."""


def parse_layer(name: str) -> tuple[Optional[str], Optional[int], str]:
    """``(group, layer, role)`` of a tensor name.

    ``enc.blk.3.attn_q.weight`` gives ``("enc", 3, "attn_q.weight")``;
    a name outside any layer gives ``(None, None, name)``.
    """
    m = LAYER_PATTERN.match(name)
    if m is None:
        return None, None, name
    return m.group("group") or "", int(m.group("layer")), m.group("role")


class Tensor:
    """One tensor: name, ggml type, ``ne``/``nb``, absolute data offset, bytes.

    ``ne`` is in ggml order (``ne[0]`` contiguous); ``shape`` is the numpy
    order (reversed). ``nb`` has one stride per dimension: ``nb[0]`` is the
    bytes of one block, ``nb[1]`` the bytes of one row. ``sizes`` is the
    type's name and sizes (:class:`~layoutscope.formats.sizes.TypeSize`);
    ``type`` is its full :class:`~layoutscope.formats.GGMLType` record.
    """

    __slots__ = (
        "name",
        "sizes",
        "_type",
        "ne",
        "nb",
        "offset",
        "nbytes",
        "layer",
        "layer_group",
        "role",
        "info_offset",
        "extent_inferred",
        "_shard",
    )

    def __init__(
        self,
        name: str,
        sizes: TypeSize,
        ne: tuple,
        offset: int,
        nbytes: int,
        info_offset: int,
        shard: "Shard",
        extent_inferred: bool = False,
    ):
        self.name = name
        self.sizes = sizes
        self._type = None
        self.ne = tuple(ne) if ne else (1,)
        self.offset = offset
        self.nbytes = nbytes
        self.info_offset = info_offset
        self.extent_inferred = extent_inferred
        self._shard = shard
        self.layer_group, self.layer, self.role = parse_layer(name)
        self.nb = self._strides()

    def _strides(self) -> tuple[int, ...]:
        t = self.sizes
        if t.block_size <= 0:
            return ()
        nb = [t.type_size, t.row_bytes(self.ne[0])]
        for n in self.ne[1:-1]:
            nb.append(nb[-1] * n)
        return tuple(nb[: len(self.ne)])

    # -- type ---------------------------------------------------------------
    @property
    def type(self) -> "GGMLType":
        """The full type record (fields, dequantizer, anatomy); the registry loads on the first read."""
        if self._type is None:
            from layoutscope.formats import ggml_type

            self._type = ggml_type(self.sizes.id)
        return self._type

    @property
    def type_id(self) -> int:
        """The ggml type id stored in the file."""
        return self.sizes.id

    @property
    def type_name(self) -> str:
        """The type's GGUF spelling (``Q8_0``, ``unknown(57)``), without loading the registry."""
        return self.sizes.name

    # -- shape ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """numpy (C-order) shape: ``ne`` reversed."""
        return tuple(reversed(self.ne))

    @property
    def n_dims(self) -> int:
        """Number of dimensions stored in the file."""
        return len(self.ne)

    @property
    def n_elements(self) -> int:
        """Total element count (product of ``ne``)."""
        return math.prod(self.ne)

    @property
    def n_rows(self) -> int:
        """Rows of ``ne[0]`` elements: ``ne1·ne2·ne3``."""
        return math.prod(self.ne[1:])

    @property
    def row_bytes(self) -> int:
        """Bytes per row (``nb[1]``); for an unknown type, the whole extent."""
        if self.sizes.block_size <= 0:
            return self.nbytes
        return self.sizes.row_bytes(self.ne[0])

    @property
    def empty_reason(self) -> Optional[str]:
        """Why this tensor has no data to work on (a zero in ``ne``), or None for a normal tensor."""
        if 0 not in self.ne:
            return None
        return f"ne = [{', '.join(map(str, self.ne))}] has a zero dimension, so it holds no elements"

    def require_data(self, action: str) -> None:
        """Raise :class:`EmptyTensorError` saying why ``action`` (e.g. "compare") cannot use this tensor.

        Does nothing for a tensor with data.
        """
        reason = self.empty_reason
        if reason is not None:
            raise EmptyTensorError(
                f"cannot {action} tensor {quoted(self.name)} (info record at byte {self.info_offset} of "
                f"{printable(self.path)}): {reason}; choose another tensor (`layoutscope info` lists every "
                "tensor's ne)")

    @property
    def path(self) -> str:
        """The file (shard) holding this tensor's data."""
        return self._shard.path

    @property
    def byteorder(self) -> str:
        """``"<"`` or ``">"``: the byte order of the file holding the tensor."""
        return self._shard.header.byteorder

    @property
    def end(self) -> int:
        """Absolute file offset one past the tensor's last byte."""
        return self.offset + self.nbytes

    def __repr__(self) -> str:
        ne = ", ".join(str(n) for n in self.ne)
        return f"<Tensor {self.name} {self.sizes.name} ne=[{ne}] @{self.offset}+{self.nbytes}>"

    # -- data -------------------------------------------------------------
    def raw(self, rows: Rows = None) -> "np.ndarray":
        """The tensor's bytes as uint8 ``(rows, row_bytes)``: a view, no copy.

        ``rows`` is None (all), an int, a slice or a range. A tensor of
        unknown type is a single row holding its whole (inferred) extent.
        """
        start, stop, step = self._row_range(rows)
        data = self._shard.bytes()
        row_bytes = self.row_bytes
        if row_bytes == 0:
            return data[:0].reshape(0, 0)
        first = self.offset + start * row_bytes
        count = max(0, len(range(start, stop, step)))
        view = data[first : first + max(0, stop - start) * row_bytes].reshape(-1, row_bytes)
        return view[::step] if step != 1 else view[:count]

    def following_bytes(self, count: int) -> "np.ndarray":
        """Up to ``count`` file bytes right after the tensor's data (padding, the next tensor), as a view.

        Fewer at the end of the file. This is what a reader that overruns the
        tensor sees.
        """
        data = self._shard.bytes()
        return data[self.end : min(data.size, self.end + max(0, count))]

    def dequantize(self, rows: Rows = None) -> "np.ndarray":
        """Decoded float32 values ``(rows, ne[0])`` of only the rows asked for."""
        if not self.type.can_dequantize:
            raise NotImplementedError(f"{self.name}: {self.type.unavailable_reason()}")
        return self.type.dequantize(self.raw(rows), self.byteorder)

    def _row_range(self, rows: Rows) -> tuple[int, int, int]:
        n = self.n_rows if self.sizes.block_size > 0 else 1
        if rows is None:
            return 0, n, 1
        if isinstance(rows, range):
            rows = slice(rows.start, rows.stop, rows.step)
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step < 1:
                raise ValueError("row slices must step forward")
            return start, max(start, stop), step
        i = rows.__index__()
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {rows} is outside {self.name} ({n} rows)")
        return i, i + 1, 1
