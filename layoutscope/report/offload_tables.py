"""The Offload screen's measurements as rows: the first-k sweep, the pipelines sweep, per-layer sensitivity.

Each table is a list of flat dicts (one per sweep point), so the same rows
are shown, written as CSV (:func:`write_rows_csv`, the columns in the rows'
order) and gathered in one JSON document (:func:`sweeps_dict`).
"""

from __future__ import annotations

import csv
from typing import Optional, Sequence, TextIO

#: Columns of each table, in the order the CSV files write them.
FIRST_K_COLUMNS = ("k", "weights", "pipeline", "kld_mean", "kld_p99", "top1_agreement", "ppl_reference",
                   "ppl_candidate", "delta_ppl")
PIPELINES_COLUMNS = ("pipeline", "weights", "kld_mean", "kld_p99", "top1_agreement", "ppl", "delta_ppl")
SENSITIVITY_COLUMNS = ("unit", "layer", "weights", "bytes", "pipeline", "kld_mean", "kld_p99", "top1_agreement")


def first_k_rows(results: Sequence, pipeline: str) -> list[dict]:
    """One row per k (a :class:`~layoutscope.inference.evaluate.CandidateResult` each) of a first-k sweep."""
    rows = []
    for result in results:
        q = result.quality
        rows.append({"k": result.candidate.k, "weights": len(result.candidate.selected), "pipeline": pipeline,
                     "kld_mean": q.kld_mean, "kld_p99": q.kld_p99, "top1_agreement": q.top1_agreement,
                     "ppl_reference": q.ppl_reference, "ppl_candidate": q.ppl_candidate,
                     "delta_ppl": q.ppl_candidate - q.ppl_reference})
    return rows


def sensitivity_rows(table: Sequence) -> list[dict]:
    """One row per unit and pipeline measured (:class:`~layoutscope.planning.sensitivity.UnitSensitivity` rows)."""
    rows = []
    for row in table:
        layer = row.unit.layer
        for pipeline, q in row.measured.items():
            rows.append({"unit": row.unit.label, "layer": "" if layer is None else layer,
                         "weights": len(row.unit.names), "bytes": row.unit.size("bytes"), "pipeline": pipeline,
                         "kld_mean": q.kld_mean, "kld_p99": q.kld_p99, "top1_agreement": q.top1_agreement})
    return rows


def write_rows_csv(stream: TextIO, columns: Sequence[str], rows: Sequence[dict]) -> int:
    """``rows`` under a header of ``columns`` (floats in full precision); returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(v) if isinstance(v, float) else v for v in (row.get(c, "") for c in columns)])
    return len(rows)


def sweeps_dict(model: str, context: dict, first_k: Optional[list], pipelines: Optional[list],
                sensitivity: Optional[list], assignment: Optional[dict], measured: Optional[dict]) -> dict:
    """Everything the screen measured, as one JSON document (a table not measured is null)."""
    return {"model": model, **context, "first_k": first_k, "pipelines": pipelines, "sensitivity": sensitivity,
            "assignment": assignment, "assignment_measured": measured}
