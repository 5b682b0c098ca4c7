"""Messages that thread workers post; handlers on the main, Scan and Offload screens own every state change.

Each message is a dataclass whose fields are what its handler reads
(Textual's :class:`~textual.message.Message` sets itself up in
``__post_init__``, which the generated ``__init__`` calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class ModelOpened(Message):
    """The file opened: the model and its display groups (label, tensors)."""

    model: Any
    groups: list


@dataclass
class OpenFailed(Message):
    """The file could not be opened; ``line`` is the reader's one-line message."""

    line: str


@dataclass
class BackendsProbed(Message):
    """``available_backends()`` finished: ``[(name, available, reason)]``."""

    availability: list


@dataclass
class MatmulStage(Message):
    """A matmul moved to stage ``index`` (of ``STAGES``) for ``tensor``."""

    tensor: str
    index: int
    name: str


@dataclass
class MatmulFinished(Message):
    """A matmul finished: the Comparison, the notices about how it ran, and the settings it ran with."""

    tensor: str
    comparison: Any
    notices: list
    settings: Any


@dataclass
class MatmulFailed(Message):
    """A matmul failed or was cancelled; ``line`` says why."""

    tensor: str
    line: str
    cancelled: bool = False


@dataclass
class Prefetched(Message):
    """A neighbouring layer's explanation and values window, computed ahead of ``]`` / ``[``."""

    tensor: Any
    row: int
    col: int
    explanation: Any
    window: Any
    values_key: tuple


@dataclass
class AmaxReady(Message):
    """The largest |w| of a tensor, which per-tensor NPU scales need."""

    tensor: str
    amax: float


@dataclass
class ExportProgress(Message):
    """An export wrote ``done`` of ``total`` rows (posted at most a few times a second)."""

    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ExportProgress)


@dataclass
class ExportFinished(Message):
    """An export finished (``ok``) or failed; ``line`` is what to tell the user."""

    ok: bool
    line: str
    path: str = ""


@dataclass
class ArrayIndexed(Message):
    """A metadata string array's offsets are indexed, so any element is a lookup."""

    key: str


@dataclass
class SearchFound(Message):
    """Indices of a metadata array's elements that contain ``query``."""

    key: str
    query: str
    hits: list


@dataclass
class ScanRowDone(Message):
    """A scan finished one weight: its (primary-scheme) ScanRow, and ``done`` of ``total`` weights."""

    row: Any
    done: int
    total: int


@dataclass
class ScanFinished(Message):
    """A scan ended, complete or cancelled (``report.interrupted``): the ScanReport of the finished rows."""

    report: Any


@dataclass
class ScanFailed(Message):
    """A scan could not run (a bad input setting, an unavailable backend); ``line`` says why."""

    line: str


@dataclass
class DiagnoseProgress(Message):
    """A diagnosis is judging hypothesis ``done`` (of ``total``), ``hypothesis``, for ``tensor``."""

    tensor: str
    done: int
    total: int
    hypothesis: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DiagnoseProgress)


@dataclass
class DiagnoseFinished(Message):
    """A diagnosis finished: the ranked Diagnosis, the .npy files it read, and the settings it ran with."""

    tensor: str
    diagnosis: Any
    observed_path: str
    input_path: str
    settings: Any


@dataclass
class DiagnoseFailed(Message):
    """A diagnosis failed (a missing or mis-shaped .npy) or was cancelled; ``line`` says why."""

    tensor: str
    line: str
    cancelled: bool = False


@dataclass
class OffloadProgress(Message):
    """An Offload job's evaluation reached ``done`` of ``total`` decodes; ``label`` names the step."""

    job: str
    label: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OffloadProgress)


@dataclass
class OffloadFinished(Message):
    """An Offload job finished: ``job`` names it (``open``, ``first-k``, ``pipelines``…), ``result`` is its outcome."""

    job: str
    result: Any


@dataclass
class OffloadFailed(Message):
    """An Offload job failed or was cancelled; ``line`` says why."""

    job: str
    line: str
    cancelled: bool = False
