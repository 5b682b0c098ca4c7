"""The ``RKNPU_HYBRID=…`` line that makes the community backend run a plan, under its numbering order.

The backend numbers its eligible weights (F16, Q8_0, Q6_K, Q4_0) in the
order llama.cpp first hands them over and gives weight number ``seq`` the
token ``pattern[seq % len(pattern)]``; a token that names no pipeline keeps
the weight on the CPU. So a plan is the sequence of its eligible weights'
pipelines in that order, ``CPU`` where a weight stays, shortened to its
shortest period. The order is modelled, not confirmed on a board
(:data:`~layoutscope.inference.hybrid.UNCONFIRMED`): the line comes with the
per-tensor table it relies on, and it is checked by reading it back exactly
as ``eval --hybrid`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

#: The token that keeps a weight on the CPU: any name that is not a pipeline's.
CPU_TOKEN = "CPU"


@dataclass(frozen=True)
class HybridLine:
    """The pattern (None when the backend cannot run the plan), why not, and the table it relies on."""

    pattern: Optional[str]
    why_not: str
    table: object  # HybridPlan: each weight's number and pipeline under the pattern

    @property
    def line(self) -> str:
        """``RKNPU_HYBRID=…`` (empty when there is no pattern)."""
        return f"RKNPU_HYBRID={self.pattern}" if self.pattern else ""


def shortest_period(tokens: Sequence[str]) -> tuple[str, ...]:
    """The shortest prefix whose repetition gives ``tokens`` (cut at their length)."""
    n = len(tokens)
    for period in range(1, n + 1):
        if all(tokens[i] == tokens[i % period] for i in range(period, n)):
            return tuple(tokens[:period])
    return tuple(tokens)


def hybrid_line(model, assignment: Mapping[str, str], matmul: Sequence[str]) -> HybridLine:
    """The pattern that reproduces ``assignment`` (weight → pipeline) for the backend, or why there is none."""
    from layoutscope.backend.community.eligibility import eligible
    from layoutscope.inference.hybrid import assign, numbering_order

    ineligible = sorted({model.tensor(name).type_name for name in assignment
                         if not eligible(model.tensor(name).type_name)[0]})
    if ineligible:
        count = sum(1 for name in assignment if model.tensor(name).type_name in ineligible)
        return HybridLine(None, f"the plan offloads {count} weight(s) of type {', '.join(ineligible)}, which the "
                          "community backend keeps on the CPU (planned with --any-type)", None)
    order, _ = numbering_order(model, matmul)
    tokens = [assignment.get(name, CPU_TOKEN) for name in order if eligible(model.tensor(name).type_name)[0]]
    if not tokens or all(t == CPU_TOKEN for t in tokens):
        return HybridLine(None, "the plan offloads nothing", None)
    pattern = ",".join(shortest_period(tokens))
    table = assign(model, pattern, matmul=matmul)
    if table.offloaded != dict(assignment):  # the read-back must give the plan, weight for weight
        return HybridLine(None, "no pattern reproduces the plan under the modelled numbering order", table)
    return HybridLine(pattern, "", table)
