"""The Backend protocol: ``matmul(weight, x) -> MatmulResult`` with Y = X @ Wᵀ."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


class BackendUnavailable(RuntimeError):
    """A backend cannot run here (missing library or hardware); the message says why."""


@dataclass
class MatmulResult:
    """``y``: float32 (M, N). ``details``: everything needed to reproduce the run.

    ``raw``: for integer NPU outputs (INT32, INT16), the integer C summed over
    K segments before any scale is applied, so two NPU runs can be compared
    bit for bit.
    """

    y: np.ndarray
    details: dict = field(default_factory=dict)
    raw: Optional[np.ndarray] = None


class Backend:
    """Base class: subclasses set ``name`` and implement :meth:`_matmul`."""

    name = "backend"

    def matmul(self, weight, x: np.ndarray) -> MatmulResult:
        """Y = X @ Wᵀ for a 2-D weight tensor W (``ne = [K, N]``) and float32 X (M, K)."""
        return self._matmul(weight, self.check(weight, x))

    @staticmethod
    def check(weight, x) -> np.ndarray:
        """``x`` as an array once it fits ``weight``; ValueError saying what is wrong otherwise."""
        weight.require_data("multiply")
        if weight.n_dims != 2:
            raise ValueError(f"{weight.name}: a matmul weight must be 2-D, this tensor has ne = {list(weight.ne)}")
        if not weight.type.is_weight_type or weight.type.vec_dot_type is None:
            raise ValueError(f"{weight.name}: {weight.type.name} has no CPU matmul in ggml, so there is no reference")
        x = np.asarray(x)
        k = weight.ne[0]
        if x.ndim != 2 or x.shape[1] != k or x.shape[0] < 1:
            raise ValueError(f"activations must have shape (M, {k}) with M >= 1 for {weight.name}, got {x.shape}")
        if x.dtype != np.float32:
            raise ValueError(f"activations must be float32, got {x.dtype}")
        return x

    def _matmul(self, weight, x: np.ndarray) -> MatmulResult:  # pragma: no cover - abstract
        raise NotImplementedError
