"""One weight through the NPU path and through llama.cpp's CPU path, compared.

:func:`run_comparison` is what ``layoutscope compare`` and the TUI's Matmul
panel run: the backend's Y, the reference Y, their metrics, and the
requantization error of the weight alone, so a user sees how much of a
mismatch the scheme explains and how much is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compare import DEFAULT_BANDS, Metrics, compare
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
    weight_error: Metrics | None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data for JSON (no arrays)."""
        return {
            "tensor": self.tensor, "backend": self.backend, "reference": self.reference,
            "input": self.input, "shape": list(self.y.shape),
            "metrics": self.metrics.to_dict(),
            "weight_requantization_error": self.weight_error.to_dict() if self.weight_error else None,
            "details": jsonable(self.details),
        }


def run_comparison(weight, x: np.ndarray, backend, reference, input_description: str = "",
                   bands: tuple[float, float] = DEFAULT_BANDS) -> Comparison:
    """Run ``backend`` and ``reference`` on (W, X) and compare them."""
    result = backend.matmul(weight, x)
    ref = reference.matmul(weight, x)
    weight_error = _weight_requantization_error(weight, backend, bands)
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
    )


def _weight_requantization_error(weight, backend, bands) -> Metrics | None:
    scheme = getattr(backend, "weight_quant", None)
    mm = getattr(backend, "mm", None)
    if scheme is None or mm is None:
        return None
    from .backend.rknpu2 import requantize

    w = weight.dequantize()
    bits = {"int8": 8, "int4": 4, "fp16": 16}[mm.b_dtype]
    return compare(requantize(w, scheme, bits).values, w, bands=bands)

