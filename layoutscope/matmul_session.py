"""One matmul as the TUI runs it: settings, which NPU side runs and why, staged progress.

The TUI keeps a :class:`MatmulSettings`, asks :func:`choose_npu_side` which
backend runs the NPU side (``npu`` when the real NPU is available, else the
exact emulator ``npu-sim``) and calls :func:`run_matmul` from a worker. The
comparison itself is :func:`layoutscope.comparison.run_comparison`, the same
code as ``layoutscope compare``; this module only reports its stages and
checks for a cancel between them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable, Optional

from .backend.rknpu2.platforms import MATMUL_TYPES, PLATFORMS
from .compare import DEFAULT_BANDS

#: The stages :func:`run_matmul` reports, in order.
STAGES = ("input", "npu side", "reference", "weight error")
#: The choices offered in settings come from the platform table itself.
PLATFORM_NAMES = tuple(PLATFORMS)
MM_NAMES = tuple(MATMUL_TYPES)
WEIGHT_SCHEMES = ("per-channel", "per-tensor", "per-group:32", "fixed")
ACT_SCHEMES = ("per-tensor", "per-token", "fixed:4")


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
        """The :class:`~layoutscope.scan.ScanOptions` of a scan with these settings.

        The threshold is the ok bound of the scan's verdicts, so "over the
        threshold" means the same in the table, the layer summary and ``n``.
        """
        from .scan import ScanOptions

        return ScanOptions(
            backend=self.backend, reference=self.reference, platform=self.platform, mm=self.mm,
            weight_quants=(self.weight_quant,), act_quant=self.act_quant, input=self.input, rows=self.rows,
            bands=self.bands,
        )

    def with_changes(self, **changes) -> "MatmulSettings":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain data (for display and tests)."""
        return asdict(self)


def validate(settings: MatmulSettings) -> Optional[str]:
    """None when the NPU options form a valid matmul, else the one-line reason."""
    from .backend import get_backend

    if not settings.threshold > 0:
        return f"threshold {settings.threshold!r}: use a positive NMSE, e.g. 5e-4"
    if settings.rows < 1:
        return f"rows {settings.rows}: need at least one input row"
    try:
        get_backend("npu-sim", **settings.npu_options())
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class NpuSide:
    """The backend that runs the NPU side, and why it was chosen."""

    name: str
    reason: str
    npu_available: bool


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


class _Staged:
    """A backend whose ``matmul`` first reports a stage (and may be cancelled); all else passes through."""

    def __init__(self, backend, before: Callable[[], None], after: Callable[[], None] = lambda: None):
        self._backend = backend
        self._before = before
        self._after = after

    def matmul(self, weight, x):
        self._before()
        result = self._backend.matmul(weight, x)
        self._after()
        return result

    def prepare(self, weight):
        # An NPU backend's stage starts with requantizing W, the slow part of it.
        self._before()
        return self._backend.prepare(weight)

    def matmul_prepared(self, prepared, x):
        result = self._backend.matmul_prepared(prepared, x)
        self._after()
        return result

    def __getattr__(self, name):
        return getattr(self._backend, name)


def run_matmul(model, tensor_name: str, settings: MatmulSettings, npu_side: NpuSide,
               stage: Callable[[int, str], None] = lambda i, s: None,
               cancelled: Callable[[], bool] = lambda: False):
    """Run and compare one matmul; returns ``(Comparison, notices)``.

    ``stage(i, name)`` is called as each of :data:`STAGES` starts;
    ``cancelled()`` is polled between stages and raises :class:`MatmulCancelled`.
    """
    from .backend import get_backend, reference_backend
    from .comparison import run_comparison
    from .inputs import load_input

    def enter(i: int) -> None:
        if cancelled():
            raise MatmulCancelled(f"matmul of {tensor_name} cancelled")
        stage(i, STAGES[i])

    weight = model.tensor(tensor_name)
    weight.require_data("run a matmul on")
    if weight.n_dims != 2:
        raise ValueError(f"{weight.name} is not a 2-D weight (ne = {list(weight.ne)}); a matmul needs one")
    enter(0)
    x, described = load_input(settings.input, model, weight.ne[0], settings.rows)
    backend = get_backend(npu_side.name, **settings.npu_options())
    reference, notice = reference_backend(settings.reference)
    result = run_comparison(
        weight, x, _Staged(backend, lambda: enter(1)), _Staged(reference, lambda: enter(2), lambda: enter(3)),
        described, bands=settings.bands,
    )
    notices = [n for n in (npu_side.reason, notice) if n]
    return result, notices
