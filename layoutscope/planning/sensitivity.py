"""Sensitivity: each unit offloaded alone under a pipeline, and the end-to-end KL divergence it causes.

Every measurement of a round runs in one evaluation (one reference per chunk
for all of them). With ``exhaustive`` every unit is measured under every
pipeline (the TUI's bars per pipeline). Otherwise a unit is measured under
its pipelines from cheapest to dearest and stops at the first one whose KL
divergence is within the budget: most units need one pass, and only the
sensitive ones pay for the dearer pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from layoutscope.inference.quality import Quality
from layoutscope.planning.units import Unit


@dataclass
class UnitSensitivity:
    """One unit's measurements: pipeline → the end-to-end :class:`Quality` with that unit alone offloaded."""

    unit: Unit
    measured: dict = field(default_factory=dict)

    def kld(self, pipeline: str) -> float:
        """The mean KL divergence measured under ``pipeline`` (inf when not measured)."""
        quality = self.measured.get(pipeline)
        return quality.kld_mean if quality is not None else float("inf")

    def cheapest_within(self, pipelines: Sequence[str], budget: float) -> Optional[str]:
        """The first of ``pipelines`` (cheapest first) whose measured KL divergence is within ``budget``."""
        return next((p for p in pipelines if self.kld(p) <= budget), None)

    def least_sensitive(self) -> tuple[Optional[str], float]:
        """The pipeline with the smallest measured KL divergence, and that divergence."""
        if not self.measured:
            return None, float("inf")
        pipeline = min(self.measured, key=self.kld)
        return pipeline, self.kld(pipeline)


def measure(session, units: Sequence[Unit], pipelines: Sequence[str], budget: float,
            exhaustive: bool = False, progress=lambda step, done, total: None) -> list[UnitSensitivity]:
    """Each unit's sensitivity under ``pipelines`` (cheapest first); see the module's note on ``exhaustive``."""
    table = [UnitSensitivity(unit) for unit in units]
    for step, pipeline in enumerate(pipelines):
        todo = [row for row in table if exhaustive or row.cheapest_within(pipelines[:step], budget) is None]
        if not todo:
            break
        candidates = [session.candidate(f"{row.unit.label} on {pipeline}", {w: pipeline for w in row.unit.names})
                      for row in todo]
        run = session.evaluate(candidates, lambda label, done, total, p=pipeline: progress(
            f"sensitivity ({p}): {label}", done, total))
        for row, result in zip(todo, run.results):
            row.measured[pipeline] = result.quality
    return table
