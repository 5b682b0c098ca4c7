"""Model: a GGUF file (or a split set of shards) opened as one model.

Opening validates every tensor's placement (alignment, bounds, overlaps,
block divisibility) and raises :class:`GGUFError` with the byte offset of the
offending record. Oddities ggml tolerates, or that only ggml rejects, become
``Model.warnings`` instead.
"""

from __future__ import annotations

import difflib
import math
import os
from types import MappingProxyType
from typing import Iterator, Mapping, Optional

from layoutscope.errors import clipped, clipped_path, quoted
from layoutscope.formats.sizes import sizes_of
from layoutscope.gguf.errors import GGUFError
from layoutscope.gguf.shard import SPLIT_NAME, Shard, shard_paths
from layoutscope.gguf.tensor import Tensor

# ggml's GGML_MAX_NAME is 64 including the NUL terminator.
_GGML_MAX_NAME = 63


class Model:
    """An open GGUF model: metadata, tensors in file order, and warnings.

    Use as a context manager, or call :meth:`close`. Metadata comes from the
    first shard; tensors from every shard.
    """

    def __init__(self, path: "str | os.PathLike[str]"):
        self.path = os.fspath(path)
        self._shards: list[Shard] = []
        try:
            for p in shard_paths(self.path):
                self._shards.append(Shard(p))
            self._build()
        except BaseException:
            self.close()
            raise

    # -- construction ---------------------------------------------------
    def _build(self) -> None:
        first = self._shards[0].header
        warnings: list[str] = []
        tensors: list[Tensor] = []
        seen: dict[str, str] = {}
        for shard in self._shards:
            warnings.extend(shard.header.warnings)
            for t in _place_tensors(shard, warnings):
                if t.name in seen:
                    raise GGUFError(
                        f"tensor {t.name!r} appears in two shards ({seen[t.name]} and {shard.path})",
                        offset=t.info_offset,
                        path=shard.path,
                    )
                seen[t.name] = shard.path
                tensors.append(t)
        self.entries: Mapping = MappingProxyType(dict(first.entries))
        self.metadata: Mapping = MappingProxyType({k: e.value for k, e in first.entries.items()})
        self.tensors: tuple[Tensor, ...] = tuple(tensors)
        self._by_name = {t.name: t for t in self.tensors}
        warnings.extend(f"tensor {t.name!r}: {t.empty_reason}; commands skip it" for t in tensors if t.empty_reason)
        warnings.extend(self._split_warnings())
        warnings.extend(self._metadata_warnings())
        self.warnings: tuple[str, ...] = tuple(warnings)

    def _split_warnings(self) -> list[str]:
        out = []
        m = SPLIT_NAME.match(os.path.basename(self.path))
        if m and int(m.group("no")) != 1:
            first = f"{m.group('prefix')}-00001-of-{m.group('count')}.gguf"
            out.append(
                f"this is shard {int(m.group('no'))} of {int(m.group('count'))}: "
                f"its metadata is in {first}; open that file to see the whole model"
            )
        if len(self._shards) > 1:
            declared = self.metadata.get("split.tensors.count")
            if declared is not None and declared != len(self.tensors):
                out.append(
                    f"split.tensors.count says {declared} tensors, the shards hold {len(self.tensors)}"
                )
            for i, shard in enumerate(self._shards):
                no = shard.header.entries.get("split.no")
                if no is not None and no.value != i:
                    out.append(f"{shard.path}: split.no is {no.value}, expected {i}")
        return out

    def _metadata_warnings(self) -> list[str]:
        out = []
        if "general.architecture" not in self.entries:
            out.append("general.architecture is missing (llama.cpp requires it)")
        quantized = any(t.sizes.is_quantized for t in self.tensors)
        if quantized and "general.quantization_version" not in self.entries:
            out.append("general.quantization_version is missing although tensors are quantized")
        return out

    # -- public API -----------------------------------------------------
    @property
    def paths(self) -> tuple[str, ...]:
        """Every shard file, in shard order (one entry for an unsplit model)."""
        return tuple(s.path for s in self._shards)

    @property
    def version(self) -> int:
        """GGUF version of the (first) file: 2 or 3."""
        return self._shards[0].header.version

    @property
    def byteorder(self) -> str:
        """``"<"`` (little-endian) or ``">"`` (big-endian)."""
        return self._shards[0].header.byteorder

    @property
    def alignment(self) -> int:
        """Data alignment in bytes (``general.alignment``, default 32)."""
        return self._shards[0].header.alignment

    @property
    def data_start(self) -> int:
        """Absolute offset of the first file's tensor data section."""
        return self._shards[0].header.data_start

    @property
    def header(self):
        """The first file's parsed :class:`~layoutscope.gguf.header.Header`."""
        return self._shards[0].header

    @property
    def file_size(self) -> int:
        """Total bytes over all shards."""
        return sum(s.size for s in self._shards)

    @property
    def architecture(self) -> Optional[str]:
        """``general.architecture``, e.g. ``"llama"``."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def block_count(self) -> Optional[int]:
        """``{arch}.block_count``: the number of layers, if declared."""
        value = self.metadata.get(f"{self.architecture}.block_count")
        return value if isinstance(value, int) else None

    @property
    def output_head(self) -> Optional[str]:
        """The tensor the output head multiplies by: ``output.weight``, or ``token_embd.weight`` when tied.

        Models such as Gemma store no ``output.weight``; llama.cpp then uses the
        token embedding for both the lookup and the output head.
        """
        if "output.weight" in self._by_name:
            return "output.weight"
        return "token_embd.weight" if "token_embd.weight" in self._by_name else None

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``; KeyError suggests close names (or the tied head for ``output.weight``)."""
        try:
            return self._by_name[name]
        except KeyError:
            if name == "output.weight" and self.output_head == "token_embd.weight":
                raise KeyError(
                    f"no tensor named 'output.weight' in {self.path}: the output head is tied to token_embd.weight "
                    "(llama.cpp uses the token embedding as the head); use token_embd.weight") from None
            close = difflib.get_close_matches(name, self._by_name, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(clipped(c) for c in close)}?" if close else ""
            raise KeyError(f"no tensor named {quoted(name)} in {clipped_path(self.path)}{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Tensor]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        return f"<Model {self.path} v{self.version} {len(self.tensors)} tensors>"

    def close(self) -> None:
        """Unmap every shard. Arrays already handed out stay valid."""
        for shard in self._shards:
            shard.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _place_tensors(shard: Shard, warnings: list) -> list[Tensor]:
    """Build the shard's tensors and check where their data lies."""
    header = shard.header
    infos = header.infos
    sized = []  # (info, type, nbytes or None when the type is unknown)
    for info in infos:
        t = sizes_of(info.type_id)
        if len(info.name.encode()) > _GGML_MAX_NAME:
            warnings.append(
                f"tensor {info.name!r}: name is longer than ggml's {_GGML_MAX_NAME} bytes; llama.cpp will reject it"
            )
        if info.offset % header.alignment:
            raise GGUFError(
                f"tensor {info.name!r}: data offset {info.offset} is not a multiple "
                f"of the alignment {header.alignment}",
                offset=info.offset_field_offset,
                path=shard.path,
            )
        if t.block_size <= 0:
            warnings.append(
                f"tensor {info.name!r} has type {t.name}: {t.unavailable_reason()}"
            )
            sized.append((info, t, None))
            continue
        ne0 = info.ne[0] if info.ne else 1
        if ne0 % t.block_size:
            raise GGUFError(
                f"tensor {info.name!r}: ne[0] = {ne0} is not a multiple of the "
                f"{t.name} block size {t.block_size}",
                offset=info.record_offset,
                path=shard.path,
            )
        n = math.prod(info.ne) if info.ne else 1
        sized.append((info, t, n // t.block_size * t.type_size))

    order = sorted(range(len(sized)), key=lambda i: sized[i][0].offset)
    extents: dict[int, tuple[int, bool]] = {}
    data_end = shard.size - header.data_start
    for rank, i in enumerate(order):
        info, t, nbytes = sized[i]
        inferred = nbytes is None
        if inferred:
            nxt = sized[order[rank + 1]][0].offset if rank + 1 < len(order) else data_end
            nbytes = max(0, nxt - info.offset)
        if header.data_start + info.offset + nbytes > shard.size:
            raise GGUFError(
                f"tensor {info.name!r}: data at bytes {header.data_start + info.offset}.."
                f"{header.data_start + info.offset + nbytes} lies outside the file "
                f"({shard.size} bytes)",
                offset=info.offset_field_offset,
                path=shard.path,
                hint="the file is truncated; llama.cpp reports 'data is not within the file bounds'",
            )
        extents[i] = (nbytes, inferred)

    _check_overlaps_and_gaps(shard, sized, order, extents, warnings)
    return [
        Tensor(
            info.name,
            t,
            info.ne,
            header.data_start + info.offset,
            extents[i][0],
            info.record_offset,
            shard,
            extent_inferred=extents[i][1],
        )
        for i, (info, t, _) in enumerate(sized)
    ]


def _check_overlaps_and_gaps(shard, sized, order, extents, warnings) -> None:
    header = shard.header
    gaps = []
    prev_end, prev_name = 0, None
    for i in order:
        info = sized[i][0]
        start, nbytes = info.offset, extents[i][0]
        if start < prev_end and nbytes:
            raise GGUFError(
                f"tensor {info.name!r} (data bytes {header.data_start + start}.."
                f"{header.data_start + start + nbytes}) overlaps tensor {prev_name!r}, "
                f"which ends at {header.data_start + prev_end}",
                offset=info.offset_field_offset,
                path=shard.path,
            )
        padded_end = prev_end + (-prev_end % header.alignment)
        if start > padded_end:
            gaps.append((info.name, header.data_start + padded_end, start - padded_end))
        if nbytes:
            prev_end, prev_name = start + nbytes, info.name
    if gaps:
        name, at, size = gaps[0]
        more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
        warnings.append(
            f"{len(gaps)} gap(s) between tensors: {size} unused bytes at byte {at} before "
            f"{name!r}{more}; ggml's reader rejects non-sequential offsets"
        )
    offsets = [info.offset for info, _, _ in sized]
    if any(b < a for a, b in zip(offsets, offsets[1:])):
        warnings.append(
            "tensor data is not in tensor-info order; ggml's reader rejects out-of-order offsets"
        )
