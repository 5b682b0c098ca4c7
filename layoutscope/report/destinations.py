"""Where a command's output goes: each path a user gave, resolved and checked once, before any work.

- ``-`` is stdout.
- An existing file that is not a regular file (a character device such as
  /dev/null or /dev/full, a FIFO) and the file-descriptor aliases (/dev/stdout,
  /dev/stderr, /dev/fd/N, /proc/self/fd/N) are opened and written directly,
  streamed, never replaced: a device stays a device. They are opened for
  appending, so nothing the shell set up is truncated.
- Anything else is a regular file written atomically (see ``atomic``): the
  temporary file sits in the directory of the *resolved* target, so writing
  through a symlink replaces the file it points to and leaves the link a link.
  A new file gets the umask's mode (0o644 under 022); an existing file keeps
  its mode, and its owner where the process may set it.

:func:`prepare` refuses, in one line naming the user's path, an output that is
an input model or one of its shards (resolved paths, and ``samefile`` for hard
links), a directory, a path in a missing directory, a directory where no file
can be created (tried for real: root ignores permission bits, /proc and /sys
ignore root), a read-only file, two outputs on one file, and two outputs on
stdout. Those are paths the user got wrong: exit 2. A write that fails later
(a full disk, an I/O error) is :class:`~layoutscope.errors.OutputError`: exit 1.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Optional, TextIO

from layoutscope.report.atomic import atomic_text_writer, new_file_mode, probe_directory
from layoutscope.errors import OutputError, UsageError
from layoutscope.errors import printable, quoted

STDOUT = "-"

#: Paths that name one of this process's open file descriptors: written to directly, never resolved.
_FD_ALIAS = re.compile(r"/dev/(stdout|stderr|fd/\d+)|/proc/(self|thread-self|\d+)/fd/\d+")

#: Errors of a write that no other path would cure on this disk: exit 1 (an unavailable resource).
_NO_ROOM = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
            errno.EFBIG: "the file is too large for this file system"}


class DestinationError(UsageError):
    """An output path that cannot be used; the message names it, why, and what to do (exit 2)."""


@dataclass(frozen=True)
class Destination:
    """One output: the path as the user gave it, the option that named it, and how it is written.

    ``kind`` is ``"stdout"``, ``"stream"`` (written directly) or ``"file"`` (atomic); ``target`` is the
    path opened or replaced; ``mode`` and ``owner`` are what a ``"file"`` ends up with.
    """

    path: str
    label: str
    kind: str
    target: str = ""
    mode: Optional[int] = None
    owner: Optional[tuple] = None

    @property
    def is_stdout(self) -> bool:
        """True for ``-``."""
        return self.kind == "stdout"

    @property
    def shown(self) -> str:
        """The user's path, safe to print (control characters escaped)."""
        return printable(self.path)

    @contextmanager
    def open(self, newline: str = "", binary: bool = False) -> Iterator[TextIO]:
        """A text stream (bytes when ``binary``) for the whole output; OSErrors become one-line errors naming the user's path."""
        if self.kind == "stdout":
            stream = GuardedStream(sys.stdout.buffer if binary else sys.stdout, self.write_failure)
            yield stream
            stream.flush()
            return
        opened = finished = False
        try:
            with self._raw(newline, binary) as raw:
                opened = True
                with GuardedStream(raw, self.write_failure) as stream:
                    yield stream
                finished = True
        except BrokenPipeError:
            raise
        except OSError as exc:
            if opened and not finished:
                raise  # the caller's own work failed inside the block: not a write error
            raise self.write_failure(exc, opening=not opened) from None

    @contextmanager
    def _raw(self, newline: str, binary: bool = False) -> Iterator[TextIO]:
        if self.kind == "file":
            with atomic_text_writer(self.target, self.mode, self.owner, newline, binary) as raw:
                yield raw
            return
        raw = open(self.target, "ab") if binary else open(self.target, "a", encoding="utf-8", newline=newline)
        try:
            yield raw
        except BaseException:
            try:
                raw.close()
            except OSError:
                pass  # the first error is the one to report; closing repeats the failed flush
            raise
        raw.close()

    def write_failure(self, exc: OSError, opening: bool = False) -> Exception:
        """The one-line error for ``exc`` raised while opening or writing this destination."""
        where = f"{self.label} {quoted(self.path)}"
        if isinstance(exc, BrokenPipeError):
            return exc  # a reader that went away: the command line ends quietly, as for a pipe
        reason = _NO_ROOM.get(exc.errno)
        if reason:
            return OutputError(f"{where}: write failed, {reason}; free some space or choose another path")
        why = exc.strerror or str(exc)
        if opening:
            return DestinationError(f"{where}: cannot open it for writing ({why}); choose another path")
        return OutputError(f"{where}: write failed ({why}); check the device or choose another path")


class GuardedStream:
    """A text stream whose OSErrors (but a broken pipe) become the exception ``failure(exc)`` returns.

    Only the stream's own writes are translated, so an OSError from the work inside a ``with`` block
    (reading a model, say) keeps its meaning.
    """

    def __init__(self, stream: TextIO, failure: Callable[[OSError], Exception]):
        self._stream = stream
        self._failure = failure

    def write(self, text) -> int:
        """Write ``text`` (bytes on a binary stream)."""
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failure(exc) from None

    def writelines(self, lines: Iterable[str]) -> None:
        """Write every string of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the underlying stream."""
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failure(exc) from None

    def __enter__(self) -> "GuardedStream":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def resolve(path: str, label: str, allow_stdout: bool = True) -> Destination:
    """The :class:`Destination` for ``path`` given as ``label``; :class:`DestinationError` if unusable."""
    path = os.fspath(path)
    where = f"{label} {quoted(path)}"
    if path == STDOUT:
        if not allow_stdout:
            raise DestinationError(f"{where}: stdout is not available here; give a file path")
        return Destination(path, label, "stdout")
    _check_spelling(path, where)
    if _FD_ALIAS.fullmatch(os.path.abspath(path)):
        if not os.path.exists(path):
            raise DestinationError(f"{where}: that file descriptor is not open; give a file path or '-'")
        return Destination(path, label, "stream", path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None  # a new file, or a symlink to one
    except NotADirectoryError:
        raise DestinationError(f"{where}: a part of the path before the file name is not a directory; "
                               "choose another path") from None
    except OSError as exc:
        raise DestinationError(f"{where}: {exc.strerror or exc}; choose another path") from None
    target = os.path.realpath(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise DestinationError(f"{where}: is a directory; give a file path, e.g. "
                               f"{quoted(os.path.join(path, 'out.csv'))}")
    if st is not None and stat.S_ISSOCK(st.st_mode):
        raise DestinationError(f"{where}: is a socket, which cannot be opened as a file; choose another path")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(target, os.W_OK):
            raise DestinationError(f"{where}: is not writable (permission denied); choose another path")
        return Destination(path, label, "stream", target)
    if st is not None and not os.access(target, os.W_OK):
        raise DestinationError(f"{where}: the file is read-only (mode {stat.S_IMODE(st.st_mode):04o}); "
                               "make it writable or choose another path")
    directory = os.path.dirname(target)
    # Name the directory as the user wrote it, unless a symlink led elsewhere.
    typed = os.path.dirname(path) or "."
    shown = quoted(typed) if os.path.realpath(typed) == directory else f"{quoted(directory)} (where the link points)"
    if not os.path.isdir(directory):
        raise DestinationError(f"{where}: directory {shown} does not exist; create it or choose another path")
    try:
        probe_directory(directory)
    except OSError as exc:
        raise DestinationError(f"{where}: cannot create a file in directory {shown} ({exc.strerror or exc}); "
                               "choose a writable directory") from None
    if st is None:
        return Destination(path, label, "file", target, new_file_mode())
    return Destination(path, label, "file", target, stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid))


def prepare(outputs: Mapping[str, Optional[str]], models: Iterable[str] = (), inputs: Iterable[str] = (),
            stdout_taken_by: Optional[str] = None, allow_stdout: bool = True) -> dict:
    """``{label: Destination}`` for every output path given (``None`` skipped), checked before any work.

    ``models`` are the input model files (every shard), ``inputs`` other files the command reads;
    ``stdout_taken_by`` names an option that already prints on stdout (``--json``).
    """
    models, inputs = [os.fspath(m) for m in models], [os.fspath(i) for i in inputs]
    chosen: dict = {}
    for label, path in outputs.items():
        if path is None:
            continue
        path = os.fspath(path)
        where = f"{label} {quoted(path)}"
        if path != STDOUT:
            _check_spelling(path, where)
            for role, files in (("model", models), ("file", inputs)):
                for source in files:
                    how = _same_file(path, source)
                    if how is not None:
                        raise DestinationError(
                            f"{where}: refused, it is the input {role} {quoted(source)}{how} and layoutscope "
                            "never writes its inputs; choose another path")
        destination = resolve(path, label, allow_stdout)
        for other in chosen.values():
            if destination.is_stdout and other.is_stdout:
                raise DestinationError(f"{where} and {other.label} '-' both print to stdout; "
                                       "send one of them to a file")
            if destination.kind == other.kind == "file" and _same_file(path, other.path) is not None:
                raise DestinationError(f"{where} and {other.label} {quoted(other.path)} are the same file; "
                                       "give each its own path")
        if destination.is_stdout and stdout_taken_by:
            raise DestinationError(f"{where} and {stdout_taken_by} both print to stdout; "
                                   "send one of them to a file")
        chosen[label] = destination
    return chosen


def as_destination(target, label: str = "path") -> Destination:
    """``target`` if it is a :class:`Destination`, else the destination of the path (for Python callers)."""
    return target if isinstance(target, Destination) else resolve(os.fspath(target), label)


def _check_spelling(path: str, where: str) -> None:
    if not path:
        raise DestinationError(f"{where}: the path is empty; give a file path or '-' for stdout")
    if "\0" in path:
        raise DestinationError(f"{where}: a path cannot contain a NUL character; choose another path")


def _same_file(path: str, other: str) -> Optional[str]:
    """How ``path`` names the same file as ``other`` (``""``, ``" through a symlink"``, ``" (a hard link
    to it)"``), or None if it does not."""
    real = os.path.realpath(path)
    if real == os.path.realpath(other):
        return "" if real == os.path.abspath(path) else " through a symlink"
    try:
        if os.path.samefile(path, other):
            return " (a hard link to it)"
    except (OSError, ValueError):
        pass  # one of them does not exist yet: not the same file
    return None
