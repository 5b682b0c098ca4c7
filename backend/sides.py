"""Which backend runs each side of a comparison, and why: names and the ``auto`` rule, without numpy.

A comparison has an NPU side (``npu``, the real NPU through librknnrt, or
``npu-sim``, the exact emulator) and a CPU reference (``cpu``, ggml's own
kernel, or ``cpu-numpy``, its numpy twin). :func:`npu_side` is the one place
that decides which NPU side runs for a request: ``npu-sim`` when asked for;
else ``npu`` when it is available or insisted on; else ``npu-sim``. It takes
the availability rows of :func:`layoutscope.backend.available_backends`, so a
caller that probed once (the TUI) can ask again for free, and
:func:`layoutscope.backend.npu_backend` builds what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

#: The NPU side's backends, in the order the backend registry lists them.
NPU_BACKENDS = ("npu-sim", "npu")
#: The CPU reference's backends: ggml's own kernel first, then its numpy twin.
REFERENCE_BACKENDS = ("cpu", "cpu-numpy")
#: The NPU-side request that means "the real NPU when it is available, else the emulator".
AUTO = "auto"
#: What may be requested for the NPU side.
NPU_REQUESTS = (AUTO, *NPU_BACKENDS)
#: Why ``npu`` cannot run when the availability rows do not mention it.
_NOT_BUILT = "the real-NPU backend (librknnrt binding) is not part of this version"


@dataclass(frozen=True)
class NpuSide:
    """The backend that runs the NPU side, why it was chosen, and whether the real NPU is available."""

    name: str
    reason: str
    npu_available: bool
    #: Why the real NPU is unavailable ("" when it is available or was not asked about).
    why_not: str = ""

    @property
    def summary(self) -> str:
        """The choice in one short line; :attr:`reason` holds the details (a missing library's whole story)."""
        # At 80 columns the TUI's Matmul panel is 48 wide: "NPU side: " and this must fit on one line.
        if self.name == "npu-sim" and self.why_not:
            return "npu-sim · npu unavailable (see notes)"
        if self.name == "npu" and not self.npu_available:
            return "npu · unavailable (see notes)"
        return f"{self.name} ({'the real NPU' if self.name == 'npu' else 'the exact emulator'})"

    @property
    def notice(self) -> str:
        """The command line's note when the emulator stands in for an unavailable NPU, else ""."""
        if self.name == "npu-sim" and self.why_not:
            return f"ran npu-sim, the exact emulator, because the NPU is unavailable: {self.why_not}"
        return ""

    @property
    def refusal(self) -> str:
        """Why an insisted-on ``npu`` cannot run, and what to do ("" when it can)."""
        if self.name == "npu" and not self.npu_available:
            return f"--backend npu: {self.why_not}; off the board use --backend npu-sim"
        return ""


def npu_side(requested: Optional[str], availability: Sequence[tuple[str, bool, str]]) -> NpuSide:
    """Which NPU side runs for ``requested`` (``auto`` or None, ``npu`` or ``npu-sim``), and why.

    ``availability`` holds ``(name, available, reason)`` rows as
    :func:`layoutscope.backend.available_backends` returns them; only the
    ``npu`` row is read. An ``npu`` that was asked for but is unavailable is
    still the choice (its :attr:`NpuSide.refusal` says why it cannot run).
    """
    requested = requested or AUTO
    if requested not in NPU_REQUESTS:
        raise ValueError(f"unknown NPU side {requested!r}; choose from {', '.join(NPU_REQUESTS)}")
    npu = next(((ok, why) for name, ok, why in availability if name == "npu"), None)
    available = bool(npu and npu[0])
    why_not = "" if available else (npu[1] if npu else _NOT_BUILT)
    if requested == "npu-sim":
        return NpuSide("npu-sim", "npu-sim chosen in settings (the exact emulator)", available)
    if available:
        return NpuSide("npu", "the real NPU is available (librknnrt)", True)
    if requested == "npu":
        return NpuSide("npu", f"npu was chosen but is unavailable: {why_not}", False, why_not)
    return NpuSide("npu-sim", f"npu unavailable: {why_not}; running the exact emulator", False, why_not)
