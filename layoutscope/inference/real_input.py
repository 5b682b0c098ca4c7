"""Which input a command runs on each weight: real activations where there are some, else a synthetic one.

``compare``, ``scan`` and the TUI's Matmul panel read ``--input`` (the
``input`` setting) through :func:`plan_inputs`, once per model and command:

- ``PATH.npz``: the rows ``layoutscope capture`` wrote, checked to come from
  this model; a weight it lacks is an error (exit 2). llama.cpp is not loaded.
- ``real``: one capture over the bundled text for every weight the command
  needs (one decode pass serves a whole scan). A model llama.cpp cannot run is
  an error (exit 2, or 1 without llama.cpp).
- ``auto`` (the default): ``real`` where llama.cpp can run the model, else
  ``random`` with a notice saying why.

With ``real`` and ``auto``, a weight llama.cpp never multiplies (token_embd
beside a separate output head) falls back to ``random`` with a notice. Where
real rows are used, the reference is llama.cpp's own output for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from layoutscope.errors import printable
from layoutscope.measure.activations import Activations, Captured, is_activations_path, load_activations, rows_of
from layoutscope.measure.settings import AUTO_INPUT, REAL_INPUT

#: The synthetic input that stands in where real rows cannot be had.
FALLBACK = "random"


def wants_real(spec: str) -> bool:
    """True when ``spec`` asks for real activations (auto, real or an .npz)."""
    spec = str(spec).strip()
    return spec in (AUTO_INPUT, REAL_INPUT) or is_activations_path(spec)


@dataclass
class InputPlan:
    """The real rows a command has (if any), the synthetic spec for the rest, and the notices about it."""

    spec: str
    acts: Optional[Activations] = None
    synthetic: str = FALLBACK
    notices: list = field(default_factory=list)
    #: Why real rows could not be had at all ("" when they could, or were not asked for).
    why_not: str = ""

    @property
    def strict(self) -> bool:
        """An activations file must hold every weight asked for."""
        return is_activations_path(self.spec)

    def rows_for(self, weight) -> Optional[Captured]:
        """The real rows of ``weight`` (K and N checked), or None when it runs on :attr:`synthetic`."""
        if self.acts is None:
            return None
        if self.strict or weight.name in self.acts:
            return rows_of(self.acts, weight.name, weight.ne[0], weight.ne[1])
        return None

    def fallback_notice(self, name: str) -> str:
        """Why ``name`` runs on the synthetic input ("" when no real input was asked for)."""
        if not wants_real(self.spec):
            return ""
        if self.why_not:
            return f"input: {self.synthetic} instead of real rows: {self.why_not}"
        return (f"input: {self.synthetic} for {printable(name)}: llama.cpp never multiplies it while running the "
                "model (an embedding table read by row lookups), so it has no real input")


def plan_inputs(spec: str, model, names: Iterable[str], rows: int, threads: Optional[int] = None,
                on_chunk: Callable = lambda p: None, checkpoint: Callable[[], None] = lambda: None) -> InputPlan:
    """The :class:`InputPlan` for ``spec`` on ``model``'s weights ``names`` (one capture for all of them)."""
    spec = str(spec or AUTO_INPUT).strip()
    if is_activations_path(spec):
        return InputPlan(spec, load_activations(spec, str(model.path)))
    if spec not in (AUTO_INPUT, REAL_INPUT):
        return InputPlan(spec, synthetic=spec)
    from layoutscope.inference.capture import NothingMultiplied, capture
    from layoutscope.inference.library import EngineUnavailable, ModelRefused

    names = list(names)
    try:
        acts = capture(str(model.path), rows=rows, weights=names, threads=threads, on_chunk=on_chunk,
                       checkpoint=checkpoint)
    except NothingMultiplied:
        return InputPlan(spec)
    except (EngineUnavailable, ModelRefused) as exc:
        if spec == REAL_INPUT:
            raise
        return InputPlan(spec, why_not=_reason(exc))
    return InputPlan(spec, acts)


def _reason(exc: Exception) -> str:
    """The refusal as a notice's clause: llama.cpp's reason without the advice meant for an error line."""
    text = str(exc).split("; layoutscope's byte-level commands")[0]
    return printable(text)
