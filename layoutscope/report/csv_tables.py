"""CSV exports: the comparison, scan and diff tables.

Each writer takes an open text stream (a command's prepared destination) or a
path, which is resolved as a destination and written atomically.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO

import numpy as np

from layoutscope.layout.sidebyside import ExportCancelled
from layoutscope.report.destinations import as_destination


@contextmanager
def text_target(target) -> Iterator[TextIO]:
    """``target`` itself if it is a stream, else the open destination of a path or Destination."""
    if hasattr(target, "write"):
        yield target
        return
    with as_destination(target).open() as stream:
        yield stream

#: Columns of a comparison CSV (one row per output element); README documents them.
COMPARISON_COLUMNS = ("tensor", "backend", "reference", "platform", "mm", "weight_quant", "act_quant",
                      "m", "n", "reference_value", "npu_value", "abs_err", "rel_err")


def write_comparison_csv(target, comparison) -> int:
    """Write one row per element of Y; returns the number of rows."""
    y = comparison.y.astype(np.float64)
    r = comparison.y_reference.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # inf - inf is NaN in the CSV, not a warning
        abs_err = np.abs(y - r)
        rel_err = np.where(r != 0, abs_err / np.abs(r), np.where(abs_err == 0, 0.0, np.inf))
    d = comparison.details.get("backend", {})
    constant = (comparison.tensor, comparison.backend, comparison.reference, d.get("platform", ""),
                d.get("mm", ""), d.get("weight_quant", ""), d.get("act_quant", ""))
    m_idx, n_idx = np.indices(y.shape)
    columns = [m_idx.ravel(), n_idx.ravel(), comparison.y_reference.ravel(), comparison.y.ravel(),
               abs_err.astype(np.float32).ravel(), rel_err.astype(np.float32).ravel()]
    with text_target(target) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COMPARISON_COLUMNS)
        writer.writerows(constant + tuple(row) for row in zip(*(c.tolist() for c in columns)))
    return y.size


#: Columns of a scan CSV (one row per scanned tensor and weight scheme); README documents them.
SCAN_COLUMNS = ("tensor", "layer", "role", "type", "K", "N", "backend", "reference", "platform", "mm",
                "weight_quant", "act_quant", "input", "weight_nmse", "weight_snr_db", "weight_max_abs",
                "nmse", "snr_db", "cosine", "max_abs", "mean_abs", "verdict", "needs", "seconds")


def write_scan_csv(target, report) -> int:
    """Write the scanned rows, worst first; returns the number of rows."""
    o = report.options
    rows = report.ranked()
    with text_target(target) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(SCAN_COLUMNS)
        for r in rows:
            writer.writerow((r.tensor, "" if r.layer is None else r.layer, r.role, r.type, r.K, r.N,
                             report.backend, report.reference, o.platform, o.mm, r.weight_quant, o.act_quant,
                             report.inputs.get(str(r.K), ""), r.weight_nmse, r.weight_snr_db, r.weight_max_abs,
                             r.nmse, r.snr_db, r.cosine, r.max_abs, r.mean_abs, r.verdict, r.needs,
                             round(r.seconds, 4)))
    return len(rows)


#: Columns of a diff CSV (one row per tensor in either file); README documents them.
DIFF_COLUMNS = ("tensor", "status", "type_a", "type_b", "ne_a", "ne_b", "nmse", "snr_db", "max_abs", "note")


def write_diff_csv(target, report) -> int:
    """Write every tensor of a diff, worst first, then the ones present in only one file."""
    rows = 0
    with text_target(target) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(DIFF_COLUMNS)
        for r in report.ranked():
            writer.writerow((r.tensor, r.status, r.type_a, r.type_b, "x".join(map(str, r.ne_a)),
                             "x".join(map(str, r.ne_b)), "" if r.nmse is None else r.nmse,
                             "" if r.snr_db is None else r.snr_db, "" if r.max_abs is None else r.max_abs, r.note))
            rows += 1
        for status, names in (("only_in_a", report.only_a), ("only_in_b", report.only_b)):
            for name in names:
                writer.writerow((name, status, "", "", "", "", "", "", "", ""))
                rows += 1
    return rows


#: Columns of the side-by-side CSV export.
SIDE_BY_SIDE_COLUMNS = ("row", "col", "dequantized", "npu_code", "npu_value", "abs_err")


def write_side_by_side_csv(target, sbs, progress: Optional[Callable[[int, int], None]] = None,
                           cancelled: Optional[Callable[[], bool]] = None, chunk_rows: int = 64) -> int:
    """Write every element of W as ``row, col, dequantized, npu_code, npu_value, abs_err``; returns rows written.

    ``target`` is a path or a :class:`~layoutscope.report.destinations.Destination`; a file is written
    atomically, so a cancel or an error leaves it as it was.
    """
    n_rows, k = sbs.n_rows, sbs.n_cols
    cols = np.arange(k)
    with text_target(target) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(SIDE_BY_SIDE_COLUMNS)
        for start in range(0, n_rows, chunk_rows):
            if cancelled is not None and cancelled():
                raise ExportCancelled(f"export to {getattr(target, 'shown', target)} cancelled; the file was not written")
            win = sbs.compute(start, min(start + chunk_rows, n_rows))
            codes = win.codes.astype(np.float32) if sbs.bits == 16 else win.codes.astype(np.int64)
            for i in range(win.stop - win.start):
                writer.writerows(zip([start + i] * k, cols.tolist(), win.dequantized[i].tolist(),
                                     codes[i].tolist(), win.npu[i].tolist(), win.abs_err[i].tolist()))
            if progress is not None:
                progress(win.stop, n_rows)
    return n_rows * k
