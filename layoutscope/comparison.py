"""One weight through the NPU path and through llama.cpp's CPU path, compared.

:func:`run_comparison` is what ``layoutscope compare`` and the TUI's Matmul
panel run: the backend's Y, the reference Y, their metrics, and the
requantization error of the weight alone, so a user sees how much of a
mismatch the scheme explains and how much is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compare import DEFAULT_BANDS, ErrorSummary, Metrics, compare, error_summary, verdict
from .jsonable import jsonable


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

    def to_dict(self) -> dict:
        """Plain data for JSON (no arrays)."""
        return {
            "tensor": self.tensor, "backend": self.backend, "reference": self.reference,
            "input": self.input, "shape": list(self.y.shape),
            "metrics": self.metrics.to_dict(),
            "weight_requantization_error": (
                {**self.weight_error.to_dict(), "verdict": verdict(self.weight_error.nmse, self.bands)}
                if self.weight_error else None),
            "details": jsonable(self.details),
        }


def run_comparison(weight, x: np.ndarray, backend, reference, input_description: str = "",
                   bands: tuple[float, float] = DEFAULT_BANDS) -> Comparison:
    """Run ``backend`` and ``reference`` on (W, X) and compare them.

    An NPU backend dequantizes and requantizes W once (``prepare``); the same
    requantized W gives the weight-alone error, so a 7B-sized weight is not
    decoded twice.
    """
    weight.require_data("compare")
    prepared = backend.prepare(weight) if hasattr(backend, "prepare") else None
    result = backend.matmul(weight, x) if prepared is None else backend.matmul_prepared(prepared, x)
    ref = reference.matmul(weight, x)
    weight_error = None
    if prepared is not None:
        weight_error = error_summary(prepared.requantized.values, prepared.values)
    return Comparison(
        tensor=weight.name,
        backend=backend.name,
        reference=reference.name,
        input=input_description,
        y=result.y,
        y_reference=ref.y,
        metrics=compare(result.y, ref.y, bands=bands),
        weight_error=weight_error,
        details={"backend": result.details, "reference": ref.details},
        bands=tuple(bands),
    )
