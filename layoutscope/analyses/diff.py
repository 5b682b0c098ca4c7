"""Diff two models: tensors in only one file, type and shape changes, and value differences.

A is the reference. For a tensor in both files with the same ``ne``, the
dequantized values of B are compared with A's (NMSE, SNR, max |err|), in
row chunks so a 262,144-row embedding never needs a full float32 copy, and
identical bytes are recognised without decoding. NaN and inf are findings
(in the row's note); the metrics cover the positions finite in both files,
and a value finite in one file only ranks the tensor first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from layoutscope.measure.metrics import ErrorAccumulator, excluded_text
from layoutscope.errors import UsageError
from layoutscope.measure.jsonable import jsonable
from layoutscope.errors import printable, quoted

#: Rows are compared in chunks of about this many elements (64 MB of float32 per side).
_CHUNK_ELEMENTS = 16 * 1024 * 1024


@dataclass
class DiffRow:
    """One tensor present in both files."""

    tensor: str
    status: str  # identical, changed, retyped, reshaped, undecodable
    type_a: str
    type_b: str
    ne_a: tuple
    ne_b: tuple
    nmse: Optional[float] = None
    snr_db: Optional[float] = None
    max_abs: Optional[float] = None
    note: str = ""
    excluded: int = 0
    mismatched: int = 0

    def to_dict(self) -> dict:
        """Plain data (non-finite numbers as strings)."""
        return jsonable(self.__dict__)


@dataclass
class DiffReport:
    """What differs between A and B."""

    file_a: str
    file_b: str
    only_a: list = field(default_factory=list)
    only_b: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    architecture_a: Optional[str] = None
    architecture_b: Optional[str] = None

    @property
    def notes(self) -> list[str]:
        """What the reader should know before the numbers (different architectures, nothing in common)."""
        out = []
        if self.architecture_a != self.architecture_b:
            out.append(f"different architectures: A is {self.architecture_a or '(none)'}, B is "
                       f"{self.architecture_b or '(none)'}; tensors are matched by name only")
        if not self.rows:
            out.append("the two models have no tensor name in common, so no values are compared")
        return out

    def ranked(self) -> list:
        """Rows worst first: reshaped and undecodable ones, then by NMSE, identical last."""
        def key(r):
            if r.nmse is None:
                return (1, 0.0) if r.status != "identical" else (-1, 0.0)
            return (0, float("inf") if r.mismatched or np.isnan(r.nmse) else r.nmse)

        return sorted(self.rows, key=key, reverse=True)

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"file_a": self.file_a, "file_b": self.file_b, "architecture_a": self.architecture_a,
                "architecture_b": self.architecture_b, "only_in_a": self.only_a, "only_in_b": self.only_b,
                "tensors": [r.to_dict() for r in self.ranked()], "notes": self.notes}


def diff_models(a, b, pattern: Optional[str] = None) -> DiffReport:
    """Compare every tensor of models ``a`` and ``b`` (open :class:`Model` objects)."""
    from layoutscope.gguf.name_filter import compile_filter

    name_filter = compile_filter(pattern)

    def keep(name: str) -> bool:
        return name_filter is None or name_filter.matches(name)

    names_a = [t.name for t in a.tensors if keep(t.name)]
    names_b = {t.name for t in b.tensors if keep(t.name)}
    if name_filter is not None and not names_a and not names_b:
        raise UsageError(f"{name_filter.option} {quoted(pattern)} matches no tensor of {printable(a.path)} nor of "
                         f"{printable(b.path)}; check the pattern (a regular expression searched in each name)")
    report = DiffReport(file_a=str(a.path), file_b=str(b.path), architecture_a=a.architecture,
                        architecture_b=b.architecture,
                        only_a=[n for n in names_a if n not in names_b],
                        only_b=[t.name for t in b.tensors if keep(t.name) and t.name not in set(names_a)])
    for name in names_a:
        if name in names_b:
            report.rows.append(diff_tensor(a.tensor(name), b.tensor(name)))
    return report


def diff_tensor(ta, tb) -> DiffRow:
    """One tensor's :class:`DiffRow` (A is the reference)."""
    row = DiffRow(ta.name, "changed", ta.type.name, tb.type.name, tuple(ta.ne), tuple(tb.ne))
    if tuple(ta.ne) != tuple(tb.ne):
        row.status, row.note = "reshaped", f"ne {list(ta.ne)} → {list(tb.ne)}: values are not compared"
        return row
    if ta.type.id == tb.type.id and _same_bytes(ta, tb):
        row.status, row.nmse, row.snr_db, row.max_abs = "identical", 0.0, float("inf"), 0.0
        return row
    if not (ta.type.can_dequantize and tb.type.can_dequantize):
        row.status, row.note = "undecodable", "bytes differ; a type has no dequantizer here, so values are not compared"
        return row
    if ta.type.id != tb.type.id:
        row.status = "retyped"
    acc = ErrorAccumulator(names=("B", "A"), axes=("row", "col"))
    step = max(1, _CHUNK_ELEMENTS // max(1, ta.ne[0]))
    for start in range(0, ta.n_rows, step):  # chunks of rows bound the memory, not a loop over elements
        rows = slice(start, min(start + step, ta.n_rows))
        acc.add(tb.dequantize(rows), ta.dequantize(rows), start)
    summary = acc.result()
    row.nmse, row.snr_db, row.max_abs = summary.nmse, summary.snr_db, summary.max_abs
    row.excluded, row.mismatched = summary.same_nonfinite + summary.mismatched, summary.mismatched
    row.note = "; ".join([f.text() for f in summary.nonfinite]
                         + [excluded_text(summary.same_nonfinite, summary.mismatched)] * bool(summary.excluded))
    return row


def _same_bytes(ta, tb) -> bool:
    step = max(1, (64 << 20) // max(1, ta.row_bytes))
    return ta.nbytes == tb.nbytes and all(
        np.array_equal(ta.raw(slice(s, min(s + step, ta.n_rows))), tb.raw(slice(s, min(s + step, tb.n_rows))))
        for s in range(0, ta.n_rows, step)
    )
