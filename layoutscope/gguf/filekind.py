"""Which paths can be read as a file: regular files only, judged by ``stat`` before anything is opened.

Opening a FIFO blocks until a writer appears, a character device such as
``/dev/zero`` never ends, and kernel pseudo-files under ``/proc`` and ``/sys``
report a size of 0 while holding text. None of them is a model or an array, so
they are refused by name before ``open`` is called. Symlinks are followed: a
link to a regular file is fine.

Only the standard library is imported, so option validation stays light.
"""

from __future__ import annotations

import os
import stat
from typing import Optional

#: Mount points of kernel pseudo-filesystems whose "regular" files are generated text.
_PSEUDO_ROOTS = ("/proc", "/sys")


def _kind(mode: int) -> Optional[str]:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _pseudo_devices() -> set:
    devices = set()
    for root in _PSEUDO_ROOTS:
        try:
            devices.add(os.stat(root).st_dev)
        except OSError:
            pass
    return devices


def not_regular(path: "str | os.PathLike[str]") -> Optional[str]:
    """Why ``path`` (symlinks followed) is not a regular file, in words (``"a FIFO (named pipe)"``), or None.

    A missing path raises the ``FileNotFoundError`` of ``os.stat`` (the caller words "no such file").
    """
    info = os.stat(path)
    kind = _kind(info.st_mode)
    if kind is not None:
        return kind
    if info.st_dev in _pseudo_devices():
        return "a kernel pseudo-file (under /proc or /sys)"
    return None
