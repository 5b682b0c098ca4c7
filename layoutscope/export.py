"""CSV exports, written atomically (temporary file in the target directory, then rename)."""

from __future__ import annotations

import csv

import numpy as np

from .atomic import atomic_text_writer

#: Columns of a comparison CSV (one row per output element); README documents them.
COMPARISON_COLUMNS = ("tensor", "backend", "reference", "platform", "mm", "weight_quant", "act_quant",
                      "m", "n", "reference_value", "npu_value", "abs_err", "rel_err")


def write_comparison_csv(path: str, comparison) -> int:
    """Write one row per element of Y; returns the number of rows."""
    y = comparison.y.astype(np.float64)
    r = comparison.y_reference.astype(np.float64)
    abs_err = np.abs(y - r)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(r != 0, abs_err / np.abs(r), np.where(abs_err == 0, 0.0, np.inf))
    d = comparison.details.get("backend", {})
    constant = (comparison.tensor, comparison.backend, comparison.reference, d.get("platform", ""),
                d.get("mm", ""), d.get("weight_quant", ""), d.get("act_quant", ""))
    m_idx, n_idx = np.indices(y.shape)
    columns = [m_idx.ravel(), n_idx.ravel(), comparison.y_reference.ravel(), comparison.y.ravel(),
               abs_err.astype(np.float32).ravel(), rel_err.astype(np.float32).ravel()]
    with atomic_text_writer(path) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COMPARISON_COLUMNS)
        writer.writerows(constant + tuple(row) for row in zip(*(c.tolist() for c in columns)))
    return y.size
