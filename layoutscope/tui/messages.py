"""Messages that thread workers post; handlers on the main screen own every state change."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ModelOpened(Message):
    """The file opened: the model and its display groups (label, tensors)."""

    def __init__(self, model: Any, groups: list) -> None:
        super().__init__()
        self.model = model
        self.groups = groups


class OpenFailed(Message):
    """The file could not be opened; ``line`` is the reader's one-line message."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class BackendsProbed(Message):
    """``available_backends()`` finished: ``[(name, available, reason)]``."""

    def __init__(self, availability: list) -> None:
        super().__init__()
        self.availability = availability


class MatmulStage(Message):
    """A matmul moved to stage ``index`` (of ``STAGES``) for ``tensor``."""

    def __init__(self, tensor: str, index: int, name: str) -> None:
        super().__init__()
        self.tensor = tensor
        self.index = index
        self.name = name


class MatmulFinished(Message):
    """A matmul finished: the Comparison, the notices about how it ran, and the settings it ran with."""

    def __init__(self, tensor: str, comparison: Any, notices: list, settings: Any) -> None:
        super().__init__()
        self.tensor = tensor
        self.comparison = comparison
        self.notices = notices
        self.settings = settings


class MatmulFailed(Message):
    """A matmul failed or was cancelled; ``line`` says why."""

    def __init__(self, tensor: str, line: str, cancelled: bool = False) -> None:
        super().__init__()
        self.tensor = tensor
        self.line = line
        self.cancelled = cancelled


class Prefetched(Message):
    """A neighbouring layer's explanation and values window, computed ahead of ``]`` / ``[``."""

    def __init__(self, tensor: Any, row: int, col: int, explanation: Any, window: Any, values_key: tuple) -> None:
        super().__init__()
        self.tensor = tensor
        self.row = row
        self.col = col
        self.explanation = explanation
        self.window = window
        self.values_key = values_key


class AmaxReady(Message):
    """The largest |w| of a tensor, which per-tensor NPU scales need."""

    def __init__(self, tensor: str, amax: float) -> None:
        super().__init__()
        self.tensor = tensor
        self.amax = amax


class ExportProgress(Message):
    """An export wrote ``done`` of ``total`` rows (posted at most a few times a second)."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ExportProgress)


class ExportFinished(Message):
    """An export finished (``ok``) or failed; ``line`` is what to tell the user."""

    def __init__(self, ok: bool, line: str, path: str = "") -> None:
        super().__init__()
        self.ok = ok
        self.line = line
        self.path = path


class ArrayIndexed(Message):
    """A metadata string array's offsets are indexed, so any element is a lookup."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class SearchFound(Message):
    """Indices of a metadata array's elements that contain ``query``."""

    def __init__(self, key: str, query: str, hits: list) -> None:
        super().__init__()
        self.key = key
        self.query = query
        self.hits = hits


class ScanRowDone(Message):
    """A scan finished one weight: its (primary-scheme) ScanRow, and ``done`` of ``total`` weights."""

    def __init__(self, row: Any, done: int, total: int) -> None:
        super().__init__()
        self.row = row
        self.done = done
        self.total = total


class ScanFinished(Message):
    """A scan ended, complete or cancelled (``report.interrupted``): the ScanReport of the finished rows."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


class ScanFailed(Message):
    """A scan could not run (a bad input setting, an unavailable backend); ``line`` says why."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class DiagnoseProgress(Message):
    """A diagnosis is judging hypothesis ``done`` (of ``total``), ``hypothesis``, for ``tensor``."""

    def __init__(self, tensor: str, done: int, total: int, hypothesis: str) -> None:
        super().__init__()
        self.tensor = tensor
        self.done = done
        self.total = total
        self.hypothesis = hypothesis

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DiagnoseProgress)


class DiagnoseFinished(Message):
    """A diagnosis finished: the ranked Diagnosis, the .npy files it read, and the settings it ran with."""

    def __init__(self, tensor: str, diagnosis: Any, observed_path: str, input_path: str, settings: Any) -> None:
        super().__init__()
        self.tensor = tensor
        self.diagnosis = diagnosis
        self.observed_path = observed_path
        self.input_path = input_path
        self.settings = settings


class DiagnoseFailed(Message):
    """A diagnosis failed (a missing or mis-shaped .npy) or was cancelled; ``line`` says why."""

    def __init__(self, tensor: str, line: str, cancelled: bool = False) -> None:
        super().__init__()
        self.tensor = tensor
        self.line = line
        self.cancelled = cancelled
