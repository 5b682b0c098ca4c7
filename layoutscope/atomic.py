"""Atomic file writes: a temporary file in the target directory, then a rename.

A reader never sees a half-written export, and a failed write leaves any
existing file untouched.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator, TextIO

from .errors import UsageError


class ExportError(UsageError):
    """An export path that cannot be written; the message names it and why."""


@contextmanager
def atomic_text_writer(path: str, newline: str = "") -> Iterator[TextIO]:
    """Open a text stream whose content replaces ``path`` only if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc} (in {directory})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
