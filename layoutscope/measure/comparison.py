"""One weight through the NPU path and through llama.cpp's CPU path, compared.

:func:`run_comparison` is what ``layoutscope compare`` and the TUI's Matmul
panel run: the backend's Y, the reference Y, their metrics, and the
requantization error of the weight alone, so a user sees how much of a
mismatch the scheme explains and how much is a bug.

NaN and inf anywhere (the weight, X, either Y) are findings: where, how many,
and the first position; the metrics cover the positions where both sides are
finite and say what they left out (see :mod:`layoutscope.measure.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from layoutscope.measure.jsonable import jsonable
from layoutscope.measure.metrics import DEFAULT_BANDS, ErrorSummary, Metrics, compare, error_summary
from layoutscope.measure.nonfinite import NonFinite, find_nonfinite


@dataclass
class Comparison:
    """The outcome of one comparison and everything needed to reproduce it."""

    tensor: str
    backend: str
    reference: str
    input: str
    y: np.ndarray
    y_reference: np.ndarray
    metrics: Metrics
    weight_error: ErrorSummary | None
    details: dict = field(default_factory=dict)
    bands: tuple = DEFAULT_BANDS
    input_nonfinite: Optional[NonFinite] = None
    #: With a real input: how far standalone ggml ``mul_mat`` is from llama.cpp's in-graph output (None otherwise).
    standalone_vs_graph: Optional[dict] = None

    @property
    def findings(self) -> list[str]:
        """Every finding, one line each: non-finite values in X, W, its requantization and either Y, and the
        backend's own (e.g. an io_attr disagreement on the real NPU)."""
        out = [self.input_nonfinite.text()] if self.input_nonfinite else []
        if self.weight_error is not None:
            out += [f.text() for f in self.weight_error.nonfinite]
        backend = self.details.get("backend", {})
        out += [*backend.get("requantization_findings", []), *backend.get("findings", [])]
        out += [f.text() for f in self.metrics.nonfinite]
        return list(dict.fromkeys(out))

    def to_dict(self) -> dict:
        """Plain data for JSON (no arrays)."""
        return {
            "tensor": self.tensor, "backend": self.backend, "reference": self.reference,
            "input": self.input, "shape": list(self.y.shape),
            "metrics": self.metrics.to_dict(),
            "weight_requantization_error": (
                {**self.weight_error.to_dict(), "verdict": self.weight_error.verdict(self.bands)}
                if self.weight_error else None),
            "input_nonfinite": self.input_nonfinite.to_dict() if self.input_nonfinite else None,
            "standalone_vs_graph": jsonable(self.standalone_vs_graph),
            "findings": self.findings,
            "details": jsonable(self.details),
        }


#: The reference's name when it is llama.cpp's own output for a real input.
GRAPH_REFERENCE = "llama.cpp"


def run_comparison(weight, x: np.ndarray, backend, reference, input_description: str = "",
                   bands: tuple[float, float] = DEFAULT_BANDS, graph_y: Optional[np.ndarray] = None) -> Comparison:
    """Run ``backend`` and ``reference`` on (W, X) and compare them.

    ``graph_y`` is llama.cpp's own output for a real X (captured from its
    graph): it is then the reference the NPU side is judged against, and the
    ``reference`` backend (standalone ggml ``mul_mat``) is measured against it
    too (:attr:`Comparison.standalone_vs_graph`). An NPU backend dequantizes and requantizes W once (``prepare``); the same
    requantized W gives the weight-alone error, so a 7B-sized weight is not
    decoded twice.
    """
    weight.require_data("compare")
    prepared = backend.prepare(weight) if hasattr(backend, "prepare") else None
    result = backend.matmul(weight, x) if prepared is None else backend.matmul_prepared(prepared, x)
    ref = reference.matmul(weight, x)
    y_reference, reference_name, standalone = ref.y, reference.name, None
    if graph_y is not None:
        y_reference, reference_name = graph_y, GRAPH_REFERENCE
        standalone = standalone_vs_graph(ref.y, graph_y, reference.name)
    weight_error = None
    if prepared is not None:
        weight_error = error_summary(prepared.requantized.values, prepared.values,
                                     names=(f"W {weight.name} requantized", f"W {weight.name} dequantized"),
                                     axes=("n", "k"))
    return Comparison(
        tensor=weight.name,
        backend=backend.name,
        reference=reference_name,
        input=input_description,
        y=result.y,
        y_reference=y_reference,
        metrics=compare(result.y, y_reference, bands=bands, names=(f"{backend.name} Y", f"{reference_name} Y")),
        weight_error=weight_error,
        details={"backend": result.details, "reference": ref.details},
        bands=tuple(bands),
        input_nonfinite=find_nonfinite(x, f"X ({input_description or 'input'})", ("m", "k")),
        standalone_vs_graph=standalone,
    )


def standalone_vs_graph(standalone: np.ndarray, graph: np.ndarray, name: str) -> dict:
    """How far standalone ggml's Y (backend ``name``) is from llama.cpp's in-graph Y on the same real X.

    ``max_abs`` and ``nmse`` over the positions finite on both sides, and
    whether the two are bit-identical (Q8_0 and Q5_0 are; some K-quants differ
    in the last bits, see the README).
    """
    m = compare(standalone, graph, k_worst=1, names=(f"{name} Y", f"{GRAPH_REFERENCE} Y"))
    return {"standalone": name, "max_abs": m.max_abs, "nmse": m.nmse,
            "bit_identical": bool(np.array_equal(standalone.view(np.uint32), graph.view(np.uint32)))}
