"""One matmul as the TUI runs it: settings, which NPU side runs and why, staged progress.

The TUI keeps a :class:`MatmulSettings`, asks :func:`choose_npu_side` which
backend runs the NPU side (``npu`` when the real NPU is available, else the
exact emulator ``npu-sim``) and calls :func:`run_matmul` from a worker. The
comparison itself is :func:`layoutscope.measure.comparison.run_comparison`, the same
code as ``layoutscope compare``; this module only reports its stages and
checks for a cancel between them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Callable, Optional

from layoutscope.backend.rknpu2.platforms import MATMUL_TYPES, PLATFORMS
from layoutscope.measure.metrics import DEFAULT_BANDS
from layoutscope.errors import printable

#: The stages :func:`run_matmul` reports, in order.
STAGES = ("input", "npu side", "reference", "weight error")
#: The choices offered in settings come from the platform table itself.
PLATFORM_NAMES = tuple(PLATFORMS)
MM_NAMES = tuple(MATMUL_TYPES)
WEIGHT_SCHEMES = ("per-channel", "per-tensor", "per-group:32", "fixed")
ACT_SCHEMES = ("per-tensor", "per-token", "fixed:4")
#: Each setting's name as the settings dialog labels it (the dataclass field name where they agree).
FIELD_LABELS = {"weight_quant": "weights", "act_quant": "activations"}
#: The command line's option names and the settings they stand for, so messages name the TUI's fields.
_FLAG_FIELDS = {"--weight-quant": "weights", "--act-quant": "activations", "--input": "input", "--rows": "rows",
                "--mm": "mm", "--platform": "platform", "--backend": "backend", "--reference": "reference"}
_FLAG = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(_FLAG_FIELDS, key=len, reverse=True)))
                   + r")(?![\w-])")


class MatmulCancelled(Exception):
    """The user cancelled the run between two stages."""


@dataclass(frozen=True)
class MatmulSettings:
    """What ``m`` runs: the backends, NPU options, input and the verdict threshold (an NMSE)."""

    backend: str = "auto"
    reference: str = "cpu"
    platform: str = "rk3588"
    mm: str = "int8"
    weight_quant: str = "per-channel"
    act_quant: str = "per-tensor"
    input: str = "random"
    rows: int = 8
    threshold: float = DEFAULT_BANDS[0]

    def npu_options(self) -> dict:
        """Keyword options of the NPU-side backend."""
        return dict(platform=self.platform, mm=self.mm, weight_quant=self.weight_quant, act_quant=self.act_quant)

    @property
    def bands(self) -> tuple:
        """Verdict bands with the threshold as the ok bound, for ``m`` and scans alike."""
        return (self.threshold, max(self.threshold, DEFAULT_BANDS[1]))

    def scan_options(self):
        """The :class:`~layoutscope.analyses.scan.ScanOptions` of a scan with these settings.

        The threshold is the ok bound of the scan's verdicts, so "over the
        threshold" means the same in the table, the layer summary and ``n``.
        """
        from layoutscope.analyses.scan import ScanOptions

        return ScanOptions(
            backend=self.backend, reference=self.reference, platform=self.platform, mm=self.mm,
            weight_quants=(self.weight_quant,), act_quant=self.act_quant, input=self.input, rows=self.rows,
            bands=self.bands,
        )

    def with_changes(self, **changes) -> "MatmulSettings":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @property
    def fingerprint(self) -> tuple:
        """Every setting a result depends on; results made under another fingerprint are stale."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def differences(self, other: "MatmulSettings") -> list[str]:
        """What changed from ``self`` to ``other``, one ``"mm int8 → int4"`` per setting."""
        out = []
        for f in fields(self):
            old, new = getattr(self, f.name), getattr(other, f.name)
            if old != new:
                show = (lambda v: f"{v:g}") if f.name == "threshold" else str
                out.append(f"{FIELD_LABELS.get(f.name, f.name)} {printable(show(old))} → {printable(show(new))}")
        return out

    def to_dict(self) -> dict:
        """Plain data (for display and tests)."""
        return asdict(self)


@dataclass(frozen=True)
class NpuSide:
    """The backend that runs the NPU side, and why it was chosen."""

    name: str
    reason: str
    npu_available: bool

    @property
    def summary(self) -> str:
        """The choice in one short line; :attr:`reason` holds the details (a missing library's whole story)."""
        # At 80 columns the Matmul panel is 48 wide: "NPU side: " and this must fit on one line.
        if self.name == "npu-sim" and not self.npu_available and not self.reason.startswith("npu-sim chosen"):
            return "npu-sim · npu unavailable (see notes)"
        if self.name == "npu" and not self.npu_available:
            return "npu · unavailable (see notes)"
        return f"{self.name} ({'the real NPU' if self.name == 'npu' else 'the exact emulator'})"


def choose_npu_side(requested: str, availability: list[tuple[str, bool, str]]) -> NpuSide:
    """``npu`` if the real NPU is available (or asked for), otherwise ``npu-sim``, with the reason.

    ``availability`` is :func:`layoutscope.backend.available_backends`.
    """
    npu = next(((ok, why) for name, ok, why in availability if name == "npu"), None)
    ok = bool(npu and npu[0])
    why_not = npu[1] if npu else "the real-NPU backend (librknnrt binding) is not part of this version"
    if requested == "npu-sim":
        return NpuSide("npu-sim", "npu-sim chosen in settings (the exact emulator)", ok)
    if ok:
        return NpuSide("npu", "the real NPU is available (librknnrt)", True)
    if requested == "npu":
        return NpuSide("npu", f"npu was chosen but is unavailable: {why_not}", False)
    return NpuSide("npu-sim", f"npu unavailable: {why_not}; running the exact emulator", False)


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


def run_matmul(model, tensor_name: str, settings: MatmulSettings, npu_side: NpuSide,
               stage: Callable[[int, str], None] = lambda i, s: None,
               cancelled: Callable[[], bool] = lambda: False):
    """Run and compare one matmul; returns ``(Comparison, notices)``.

    ``stage(i, name)`` is called as each of :data:`STAGES` starts;
    ``cancelled()`` is polled between stages and between the blocks of the
    NPU side's work (dequantize, requantize, each NPU call), and raises
    :class:`MatmulCancelled`. The notices hold the NPU side's one-line
    :attr:`NpuSide.summary`; its full reason is the caller's to show.
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
    x, described = load_input(settings.input, model, weight.ne[0], settings.rows)
    backend = get_backend(npu_side.name, **settings.npu_options())
    reference, notice = reference_backend(settings.reference)
    result = run_comparison(
        weight, x, _Staged(backend, lambda: enter(1), checkpoint=checkpoint),
        _Staged(reference, lambda: enter(2), lambda: enter(3)), described, bands=settings.bands,
    )
    notices = [n for n in (npu_side.summary, notice) if n]
    return result, notices
