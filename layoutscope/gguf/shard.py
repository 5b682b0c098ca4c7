"""Shard: one GGUF file mapped read-only, with its parsed header.

The file is opened ``rb`` and mapped with ``ACCESS_READ``: layoutscope never
writes to a model and works on ``chmod 444`` files. Only regular files are
opened (symlinks followed): a FIFO would block ``open`` forever, and devices
and /proc files are no models, so they are refused after ``stat``, before
``open``.
"""

from __future__ import annotations

import mmap
import os
import re
from typing import Optional

from layoutscope.gguf.filekind import not_regular
from layoutscope.gguf.errors import GGUFError
from layoutscope.gguf.header import Header, parse_header

#: ``<prefix>-00001-of-00003.gguf``, llama.cpp's split naming.
SPLIT_NAME = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


class Shard:
    """A GGUF file mapped into memory read-only, plus its header."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._file = None
        kind = not_regular(self.path)
        if kind is not None:
            raise GGUFError(f"{kind}, not a regular file", path=self.path,
                            hint="give the path of a .gguf model file")
        self._file = open(self.path, "rb")
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            if self.size == 0:
                raise GGUFError("not a GGUF file: the file is empty", offset=0, path=self.path)
            self._map: Optional[mmap.mmap] = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                self.header: Header = parse_header(self._map, self.size)
            except GGUFError as exc:
                raise exc.with_path(self.path) from None
        except BaseException:
            self.close()
            raise
        self._array = None

    def bytes(self):
        """The whole file as a read-only numpy uint8 view (created on first use)."""
        if self._array is None:
            import numpy as np

            if self._map is None:
                raise ValueError(f"{self.path} is closed")
            self._array = np.frombuffer(self._map, dtype=np.uint8)
        return self._array

    def close(self) -> None:
        """Unmap and close. Views handed out earlier keep the mapping alive."""
        self._array = None
        m, self._map = getattr(self, "_map", None), None
        if m is not None:
            try:
                m.close()
            except BufferError:
                pass  # numpy views still reference it; it is freed with them
        if self._file is not None:
            self._file.close()


def shard_paths(path: str) -> list[str]:
    """All shard paths of a split model opened by its first shard, else ``[path]``.

    Raises GGUFError naming the first missing shard.
    """
    m = SPLIT_NAME.match(os.path.basename(path))
    count = int(m.group("count")) if m else 0
    if m is None or int(m.group("no")) != 1 or count < 1:
        return [path]
    directory = os.path.dirname(path)
    paths = [
        os.path.join(directory, f"{m.group('prefix')}-{i:05d}-of-{count:05d}.gguf")
        for i in range(1, count + 1)
    ]
    for i, p in enumerate(paths, 1):
        if not os.path.exists(p):
            raise GGUFError(
                f"shard {i} of {count} is missing: {p}",
                path=path,
                hint="all shards of a split model must sit in the same directory",
            )
    return paths
