"""llama.cpp through llama-cpp-python's low-level API: loaded on first use, its log captured.

llama.cpp prints its log (model loading, graph sizes, warnings) on stderr by
default. :func:`llama` routes it into :data:`LOG`, a short ring buffer, so the
terminal stays clean and a model that llama.cpp refuses is reported in one
line with llama.cpp's own reason (:meth:`LlamaLog.reason`).

``LLAMA_CPP_LIB_PATH`` makes llama-cpp-python load ``libllama`` from the
user's own llama.cpp build; :mod:`layoutscope.backend.libggml` follows the
same variable, so the reference and the engine stay one ggml.
"""

from __future__ import annotations

import collections
import threading
from typing import Optional

from layoutscope.errors import ResourceError, UsageError


class EngineUnavailable(ResourceError):
    """llama-cpp-python (or the llama.cpp build it points at) cannot be loaded; exit 1, one line."""


class ModelRefused(UsageError):
    """A model file llama.cpp cannot load or run (e.g. an unsupported architecture); exit 2, llama.cpp's reason."""


class LlamaLog:
    """The last lines llama.cpp logged (a ring buffer), and the line that explains a failure."""

    #: Lines kept: enough for a load's messages, bounded for long runs.
    KEPT = 400
    #: Words that mark a line as the reason of a failure, most telling first.
    _TELLING = ("error", "failed", "unknown", "unsupported", "invalid", "missing", "not found", "cannot")

    def __init__(self) -> None:
        self._lines: collections.deque = collections.deque(maxlen=self.KEPT)
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Add text as llama.cpp sends it (pieces of lines; a line ends with a newline)."""
        with self._lock:
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            self._lines.extend(line.rstrip() for line in lines if line.strip())

    def mark(self) -> int:
        """A position to ask :meth:`since` about later (lines logged by one operation)."""
        with self._lock:
            return len(self._lines)

    def since(self, mark: int) -> list[str]:
        """The lines logged after ``mark`` (those still in the buffer)."""
        with self._lock:
            lines = list(self._lines)
        return lines[max(0, min(mark, len(lines))):]

    def reason(self, mark: int = 0) -> str:
        """The logged line that best explains a failure after ``mark``, or "" when llama.cpp said nothing."""
        lines = self.since(mark) or list(self._lines)
        for word in self._TELLING:
            for line in reversed(lines):
                if word in line.lower():
                    return line.strip()
        return lines[-1].strip() if lines else ""


#: Everything llama.cpp logs in this process.
LOG = LlamaLog()

_lock = threading.Lock()
_loaded: Optional[object] = None
_log_callback = None  # the ctypes callback must outlive every call llama.cpp makes through it


def llama():
    """The ``llama_cpp`` module, imported and initialised once, its log routed into :data:`LOG`."""
    global _loaded, _log_callback
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            import llama_cpp
        except (ImportError, OSError) as exc:  # OSError: libllama itself failed to load
            raise EngineUnavailable(
                f"llama.cpp is not available ({exc}); run `pip install llama-cpp-python` (it compiles "
                "llama.cpp, a few minutes), or set LLAMA_CPP_LIB_PATH to your llama.cpp build") from None

        def on_log(_level, text, _user_data) -> None:
            if text:
                LOG.write(text.decode("utf-8", errors="replace"))

        _close_null_files()
        _log_callback = llama_cpp.llama_log_callback(on_log)
        llama_cpp.llama_log_set(_log_callback, None)
        llama_cpp.llama_backend_init()
        _loaded = llama_cpp
        return llama_cpp


def _close_null_files() -> None:
    """Close the two /dev/null files llama_cpp opens at import and never closes.

    Left open, they are a ResourceWarning at every exit (shown under
    ``PYTHONWARNINGS=default``). They serve only its high-level API's output
    silencing, which layoutscope does not use: its log goes to :data:`LOG`.
    """
    import atexit

    try:
        from llama_cpp import _utils
    except ImportError:  # pragma: no cover - another llama_cpp layout
        return
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(_utils, name, None)
        if handle is not None and hasattr(handle, "close"):
            atexit.register(handle.close)
