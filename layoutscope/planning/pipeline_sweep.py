"""``--sweep pipelines``: each community pipeline on every weight the backend would offload, one candidate each.

The community backend's README publishes, for one model, a table of mean KL
divergence, p99, top-1 agreement and ΔPPL per pipeline. This builds the same
table for the user's model: one candidate per pipeline, each putting every
offloadable matmul weight (of the ``--npu`` selection) on that pipeline's
side. Weights of a type the backend keeps on the CPU stay there with its
reason, unless ``any_type`` asks what-if.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from layoutscope.backend.community.pipelines import PIPELINE_NAMES
from layoutscope.inference.evaluate import Candidate
from layoutscope.planning.units import WeightFacts, offloadable, weight_facts


@dataclass(frozen=True)
class PipelineSweep:
    """The sweep's candidates (one per pipeline), the weights each offloads, and those left on the CPU and why."""

    candidates: tuple[Candidate, ...]
    offloaded: tuple[WeightFacts, ...]
    kept: tuple[tuple[WeightFacts, str], ...]
    #: Whether the types the backend keeps on the CPU were offloaded anyway (a what-if).
    any_type: bool = False

    @property
    def pipelines(self) -> tuple[str, ...]:
        """The pipelines swept, in the sweep's order."""
        return tuple(c.pipeline for c in self.candidates)


def pipeline_sweep(model, weights: Sequence[str], side_for: Callable[[str], object],
                   pipelines: Sequence[str] = PIPELINE_NAMES, any_type: bool = False) -> PipelineSweep:
    """One candidate per pipeline over ``weights`` (llama.cpp's matmul weights, or the ``--npu`` selection of them).

    ``side_for(pipeline)`` gives the NPU side that computes a pipeline (made
    once per pipeline by the caller, so a weight is requantized once each).
    """
    chosen, kept = offloadable(weight_facts(model, weights), any_type)
    names = tuple(w.name for w in chosen)
    candidates = tuple(Candidate(pipeline, names, side=side_for(pipeline), pipeline=pipeline)
                       for pipeline in dict.fromkeys(pipelines))
    return PipelineSweep(candidates, tuple(chosen), tuple(kept), any_type)


def sweep_rows(results: Sequence) -> list[dict]:
    """Per pipeline (a :class:`~layoutscope.inference.evaluate.CandidateResult` each) the published table's figures.

    ΔPPL is against llama.cpp's own perplexity over the same positions.
    """
    rows = []
    for result in results:
        q = result.quality
        rows.append({"pipeline": result.candidate.pipeline, "weights": len(result.candidate.selected),
                     "kld_mean": q.kld_mean, "kld_p99": q.kld_p99, "top1_agreement": q.top1_agreement,
                     "ppl": q.ppl_candidate, "delta_ppl": q.ppl_candidate - q.ppl_reference})
    return rows


def within(rows: Sequence[dict], bound: float) -> list[str]:
    """The pipelines whose mean KL divergence stays within ``bound``, in the rows' order."""
    return [row["pipeline"] for row in rows if row["kld_mean"] <= bound]
