"""The greedy plan: units added by increasing sensitivity while the measured KL divergence stays within budget.

Each unit goes with the cheapest pipeline that keeps it within the budget on
its own (from :mod:`~layoutscope.planning.sensitivity`). Units are ordered by
sensitivity per unit of the objective (KL divergence per byte, or per
multiply-accumulate), the knapsack order: small damage for much offload first.

The whole plan is measured after every addition, never predicted from the
single-unit figures (errors compound through the layers). Additions are tried
in batches: the rest of the list at once first, halved on a failure and
doubled after a success, so a plan where everything fits costs one pass and a
unit that breaks the budget is isolated in log2(n) passes. That unit is then
tried on its dearer pipelines (those not already measured over budget alone),
cheapest first: a layer that INT4 cannot carry inside the plan may still go
as INT8. A unit no pipeline fits is left out and the next one tried, until
:data:`PATIENCE` units in a row have failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from layoutscope.inference.quality import Quality
from layoutscope.planning.sensitivity import UnitSensitivity
from layoutscope.planning.units import Unit

#: Units in a row that may break the budget before the rest is left untried.
PATIENCE = 3


@dataclass(frozen=True)
class Choice:
    """A unit with the pipeline the plan gives it, and its KL divergence when offloaded alone (NaN: not measured).

    ``fallbacks`` are the dearer pipelines to try when the plan cannot take
    the unit on ``pipeline``; ``instead_of`` names the cheaper ones that the
    whole plan's measurement refused.
    """

    unit: Unit
    pipeline: str
    alone: float
    fallbacks: tuple = ()
    instead_of: tuple = ()

    def next_pipeline(self, alone: dict) -> Optional["Choice"]:
        """The same unit on its next fallback pipeline (None when there is none)."""
        if not self.fallbacks:
            return None
        pipeline = self.fallbacks[0]
        return Choice(self.unit, pipeline, alone.get(pipeline, float("nan")), self.fallbacks[1:],
                      self.instead_of + (self.pipeline,))


@dataclass(frozen=True)
class Step:
    """One evaluation of the greedy search: the units it tried to add, the outcome, and its measurement."""

    added: tuple[str, ...]
    accepted: bool
    quality: Quality


@dataclass
class GreedyResult:
    """The plan's choices in the order they were added, and what was left out and why."""

    chosen: list = field(default_factory=list)        # Choice
    rejected: list = field(default_factory=list)      # (Choice, the plan's mean KL divergence with it)
    untried: list = field(default_factory=list)       # Choice, after PATIENCE failures in a row
    over_budget: list = field(default_factory=list)   # UnitSensitivity: no pipeline within budget alone
    steps: list = field(default_factory=list)         # Step
    quality: Optional[Quality] = None                 # the last accepted step's measurement

    @property
    def assignment(self) -> dict[str, str]:
        """Weight → pipeline for every offloaded weight."""
        return {name: c.pipeline for c in self.chosen for name in c.unit.names}


def order(sensitivity: Sequence[UnitSensitivity], pipelines: Sequence[str], budget: float,
          objective: str) -> tuple[list[Choice], list[UnitSensitivity]]:
    """``(choices in the order the greedy tries them, units no pipeline keeps within budget alone)``."""
    choices, over = [], []
    for row in sensitivity:
        pipeline = row.cheapest_within(pipelines, budget)
        if pipeline is None:
            over.append(row)
            continue
        dearer = pipelines[list(pipelines).index(pipeline) + 1:]
        fallbacks = tuple(p for p in dearer if p not in row.measured or row.kld(p) <= budget)
        choices.append(Choice(row.unit, pipeline, row.kld(pipeline), fallbacks))
    choices.sort(key=lambda c: (c.alone / max(1, c.unit.size(objective)), -c.unit.size(objective)))
    return choices, over


def grow(session, choices: Sequence[Choice], budget: float,
         progress=lambda step, done, total: None, alone: Optional[dict] = None) -> GreedyResult:
    """Add ``choices`` in order while the measured mean KL divergence of the whole plan stays within ``budget``.

    ``alone`` (unit label -> pipeline -> mean KL divergence alone) fills in
    the single-unit figure of a fallback pipeline where it was measured.
    """
    alone = alone or {}
    choices = list(choices)
    result = GreedyResult()
    position, batch, failures = 0, len(choices), 0
    while position < len(choices):
        batch = max(1, min(batch, len(choices) - position))
        trial = list(choices[position:position + batch])
        assignment = {**result.assignment, **{name: c.pipeline for c in trial for name in c.unit.names}}
        label = f"plan + {len(trial)} unit(s) ({len(result.chosen) + len(trial)} of {len(choices)})"
        run = session.evaluate([session.candidate(label, assignment)],
                               lambda step, done, total: progress(f"greedy: {label}", done, total))
        quality = run.results[0].quality
        accepted = quality.kld_mean <= budget
        result.steps.append(Step(tuple(c.unit.label for c in trial), accepted, quality))
        if accepted:
            result.chosen += trial
            result.quality = quality
            position += len(trial)
            batch, failures = batch * 2, 0
        elif batch > 1:
            batch //= 2
        elif (dearer := trial[0].next_pipeline(alone.get(trial[0].unit.label, {}))) is not None:
            choices[position] = dearer
        else:
            result.rejected.append((trial[0], quality.kld_mean))
            position += 1
            failures += 1
            if failures >= PATIENCE:
                result.untried = list(choices[position:])
                break
    return result
