"""Atomic replacement of a regular file, and the registry of temporary files still being written.

The new content goes to a temporary file beside the target, which is renamed
onto the target only when the whole content is written and synced: a reader
never sees half an export, and a failure leaves the old file as it was. The
temporary file gets the final mode (and owner, when the process may set it)
before its first byte, so the rename changes nothing but the content.

Every temporary file is registered while it exists. ``finally`` clauses
remove it on errors and on the signals that ``interrupts`` turns into
exceptions; :func:`remove_temporaries` runs at interpreter exit as a backstop.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator, Optional, TextIO

_live: set = set()
_live_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows.

    ``os.umask`` can only be read by setting it, which briefly changes the mode
    of files other threads create; ``/proc/self/status`` (Linux 4.7+) has it
    as a plain field, so that is tried first.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 without the umask's bits (0o644 under 022)."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_text_writer(target: str, mode: Optional[int] = None, owner: Optional[tuple] = None,
                       newline: str = "", binary: bool = False) -> Iterator[TextIO]:
    """A UTF-8 text stream (a byte stream when ``binary``) whose content replaces ``target`` only if the block succeeds.

    ``target`` must be the resolved path (no symlink in its last component); ``mode`` defaults to
    :func:`new_file_mode`; ``owner`` is ``(uid, gid)`` to keep, skipped when not permitted.
    """
    target = os.fspath(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(target)))
    with _live_lock:
        _live.add(tmp)
    stream = None
    try:
        os.fchmod(fd, new_file_mode() if mode is None else mode)
        if owner is not None:
            try:
                os.fchown(fd, *owner)
            except OSError:
                pass  # only root may give a file away; the content still lands
        stream = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        yield stream
        stream.flush()
        os.fsync(stream.fileno())
        stream.close()
        os.replace(tmp, target)
    except BaseException:
        # The first error is the one to report: closing may fail again (a full disk) and must not hide it.
        if stream is None:
            os.close(fd)
        else:
            try:
                stream.close()
            except OSError:
                pass
        _unlink(tmp)
        raise
    finally:
        with _live_lock:
            _live.discard(tmp)


def probe_directory(directory: str) -> None:
    """Create and remove a temporary file in ``directory``; raises the OSError if that is impossible.

    Permission bits do not tell (root ignores them; /proc and /sys refuse new files whatever they
    say), so the only reliable question is to try.
    """
    fd, tmp = tempfile.mkstemp(prefix=".layoutscope-probe.", suffix=".tmp", dir=directory)
    os.close(fd)
    _unlink(tmp)


def remove_temporaries() -> None:
    """Remove every temporary file still registered (a backstop for an exit that skipped ``finally``)."""
    with _live_lock:
        paths = list(_live)
        _live.clear()
    for path in paths:
        _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


atexit.register(remove_temporaries)
