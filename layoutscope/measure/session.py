"""One matmul as the TUI runs it: which NPU side runs and why, staged progress, messages in the dialog's words.

The TUI keeps a :class:`~layoutscope.measure.settings.RunSettings`, asks
:func:`layoutscope.backend.npu_side` which backend runs the NPU side (``npu``
when the real NPU is available, else the exact emulator ``npu-sim``) and calls
:func:`run_matmul` from a worker. The comparison itself is
:func:`layoutscope.measure.comparison.run_comparison`, the same code as
``layoutscope compare``; this module only reports its stages and checks for a
cancel between them.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from layoutscope.backend.sides import NpuSide
from layoutscope.errors import printable
from layoutscope.measure.settings import RunSettings

#: The record under the name the TUI's code used first (the same class).
MatmulSettings = RunSettings
#: The stages :func:`run_matmul` reports, in order.
STAGES = ("input", "npu side", "reference", "weight error")
#: The command line's option names and the dialog's labels of the same settings, so messages name the fields.
_FLAG_FIELDS = {s.flag: s.label for s in RunSettings.declared() if s.label}
_FLAG = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(_FLAG_FIELDS, key=len, reverse=True)))
                   + r")(?![\w-])")


class MatmulCancelled(Exception):
    """The user cancelled the run between two stages."""


def no_data_reason(tensor) -> Optional[str]:
    """Why ``tensor`` has nothing to show or multiply (a zero dimension), or None when it has data."""
    reason = tensor.empty_reason
    return f"{printable(tensor.name)} has no data: {reason}" if reason else None


def in_field_words(line: str) -> str:
    """A message from the command-line code with its option names (``--input``) replaced by the settings' names."""
    return _FLAG.sub(lambda m: _FLAG_FIELDS[m.group()], line)


class _Staged:
    """A backend whose ``matmul`` first reports a stage, and whose long work polls a checkpoint; all else passes through."""

    def __init__(self, backend, before: Callable[[], None], after: Callable[[], None] = lambda: None,
                 checkpoint: Optional[Callable[[], None]] = None):
        self._backend = backend
        self._before = before
        self._after = after
        self._checkpoint = checkpoint

    def matmul(self, weight, x):
        self._before()
        result = self._backend.matmul(weight, x)
        self._after()
        return result

    def prepare(self, weight):
        # An NPU backend's stage starts with requantizing W, the slow part of it: it polls the checkpoint
        # between row blocks, so a cancel stops a 262,144-row head within a block.
        self._before()
        return self._backend.prepare(weight, checkpoint=self._checkpoint)

    def matmul_prepared(self, prepared, x):
        result = self._backend.matmul_prepared(prepared, x, checkpoint=self._checkpoint)
        self._after()
        return result

    def __getattr__(self, name):
        return getattr(self._backend, name)


def run_matmul(model, tensor_name: str, settings: RunSettings, npu_side: NpuSide,
               stage: Callable[[int, str], None] = lambda i, s: None,
               cancelled: Callable[[], bool] = lambda: False, real=None):
    """Run and compare one matmul; returns ``(Comparison, notices)``.

    ``stage(i, name)`` is called as each of :data:`STAGES` starts;
    ``cancelled()`` is polled between stages and between the blocks of the
    NPU side's work (dequantize, requantize, each NPU call), and raises
    :class:`MatmulCancelled`. The notices hold the NPU side's one-line
    :attr:`NpuSide.summary`; its full reason is the caller's to show.
    ``real`` is the input plan of :mod:`layoutscope.inference.real_input`
    (made by the TUI, which may import llama.cpp): a weight with real rows
    runs on them, judged against llama.cpp's own output.
    """
    from layoutscope.backend import get_backend, reference_backend
    from layoutscope.measure.comparison import run_comparison
    from layoutscope.measure.inputs import load_input

    def checkpoint() -> None:
        if cancelled():
            raise MatmulCancelled(f"matmul of {printable(tensor_name)} cancelled")

    def enter(i: int) -> None:
        checkpoint()
        stage(i, STAGES[i])

    weight = model.tensor(tensor_name)
    weight.require_data("run a matmul on")
    if weight.n_dims != 2:
        raise ValueError(f"{printable(weight.name)} is not a 2-D weight (ne = {list(weight.ne)}); a matmul needs one")
    empty = no_data_reason(weight)
    if empty:
        raise ValueError(empty)
    enter(0)
    captured = real.rows_for(weight) if real is not None else None
    input_notice = ""
    if captured is not None:
        x, described, graph_y = captured.x, real.acts.describe(weight.name), captured.y
    else:
        x, described = load_input(real.synthetic if real is not None else settings.input, model, weight.ne[0],
                                  settings.rows)
        graph_y, input_notice = None, real.fallback_notice(weight.name) if real is not None else ""
    core = {"core": settings.npu_core} if npu_side.name == "npu" else {}
    backend = get_backend(npu_side.name, **core, **settings.npu_options())
    reference, notice = reference_backend(settings.reference, settings.threads)
    result = run_comparison(
        weight, x, _Staged(backend, lambda: enter(1), checkpoint=checkpoint),
        _Staged(reference, lambda: enter(2), lambda: enter(3)), described, bands=settings.bands, graph_y=graph_y,
    )
    notices = [n for n in (npu_side.summary, notice, input_notice) if n]
    return result, notices
