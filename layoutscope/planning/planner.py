"""``plan``: the most the NPU can take, and how, while the model's output stays within a KL divergence budget.

:func:`make_plan` runs the three phases on an open
:class:`~layoutscope.planning.session.OffloadSession`:

1. sensitivity: each unit alone under its pipelines, cheapest first
   (:mod:`~layoutscope.planning.sensitivity`);
2. the greedy plan, measured after every addition (:mod:`~layoutscope.planning.greedy`);
3. verification: the final plan evaluated once more, exactly as ``eval --plan``
   does. A plan is an answer only when this measurement is within budget.

An infeasible budget (no unit stays within it alone, under any pipeline) is a
result, not an error: the plan is empty and :attr:`PlanResult.minimum` says
the smallest single-unit KL divergence measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from layoutscope.inference.quality import Quality
from layoutscope.planning.costs import CHEAPEST_FIRST, cheapest_first, hadamard_ops_per_token
from layoutscope.planning.greedy import GreedyResult, grow, order
from layoutscope.planning.sensitivity import measure
from layoutscope.planning.units import make_units, offloadable, weight_facts

#: The default budget on the mean KL divergence of the whole plan.
DEFAULT_BUDGET = 0.01


@dataclass(frozen=True)
class PlanOptions:
    """What to plan: the budget, the pipelines to choose from, what to maximise, the unit, which types."""

    budget: float = DEFAULT_BUDGET
    pipelines: tuple = CHEAPEST_FIRST
    objective: str = "bytes"
    unit: str = "layer"
    any_type: bool = False


@dataclass
class PlanResult:
    """A plan and the evidence behind it."""

    options: PlanOptions
    facts: list                       # WeightFacts of every llama.cpp matmul weight
    kept: list                        # (WeightFacts, why the backend keeps it on the CPU)
    sensitivity: list                 # UnitSensitivity per unit
    greedy: GreedyResult
    verified: Optional[Quality] = None
    passes: int = 0
    seconds: dict = field(default_factory=dict)
    hybrid: object = None             # HybridLine, when the plan offloads something

    @property
    def assignment(self) -> dict[str, str]:
        """Weight → pipeline for every weight the plan offloads."""
        return self.greedy.assignment

    @property
    def feasible(self) -> bool:
        """Whether at least one unit stays within the budget alone."""
        return bool(self.greedy.chosen or self.greedy.rejected or self.greedy.untried)

    @property
    def answered(self) -> bool:
        """Whether the plan was verified within budget (an empty plan of an infeasible budget is no answer)."""
        return self.verified is not None and self.verified.kld_mean <= self.options.budget

    @property
    def minimum(self) -> tuple:
        """``(unit label, pipeline, KL divergence)`` of the least sensitive unit measured alone."""
        best = (None, None, float("inf"))
        for row in self.sensitivity:
            pipeline, kld = row.least_sensitive()
            if kld < best[2]:
                best = (row.unit.label, pipeline, kld)
        return best

    def share(self, objective: str) -> float:
        """The share of every matmul weight's bytes (or multiply-accumulates) that the plan offloads."""
        total = sum(w.size(objective) for w in self.facts)
        moved = sum(w.size(objective) for w in self.facts if w.name in self.assignment)
        return moved / total if total else 0.0

    def hadamard_ops(self, model) -> int:
        """CPU operations per token the plan's HADAMARD weights add (sign flips, transform, output division)."""
        ops = 0
        for name, pipeline in self.assignment.items():
            if "HADAMARD" in pipeline:
                k, n = model.tensor(name).ne[:2]
                ops += hadamard_ops_per_token(int(k), int(n))
        return ops


def make_plan(session, options: PlanOptions, progress=lambda step, done, total: None) -> PlanResult:
    """Measure, grow and verify a plan on ``session`` (see the module's note); raises ``Cancelled`` when stopped."""
    from layoutscope.planning.hybrid_line import hybrid_line

    pipelines = cheapest_first(options.pipelines)
    facts = weight_facts(session.model, session.weights)
    chosen, kept = offloadable(facts, options.any_type)
    units = make_units(chosen, options.unit)
    seconds: dict = {}
    t0 = time.perf_counter()
    table = measure(session, units, pipelines, options.budget, progress=progress)
    seconds["sensitivity"] = time.perf_counter() - t0
    choices, over = order(table, pipelines, options.budget, options.objective)
    t0 = time.perf_counter()
    alone = {row.unit.label: {p: q.kld_mean for p, q in row.measured.items()} for row in table}
    greedy = grow(session, choices, options.budget, progress, alone) if choices else GreedyResult()
    greedy.over_budget = over
    seconds["greedy"] = time.perf_counter() - t0
    result = PlanResult(options, facts, kept, table, greedy)
    if greedy.chosen:
        t0 = time.perf_counter()
        run = session.evaluate([session.candidate("plan", greedy.assignment)],
                               lambda step, done, total: progress(f"verify: {step}", done, total))
        result.verified = run.results[0].quality
        seconds["verify"] = time.perf_counter() - t0
        result.hybrid = hybrid_line(session.model, greedy.assignment, session.weights)
    result.seconds = seconds
    result.passes = session.passes
    return result
