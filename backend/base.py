"""The Backend protocol: ``matmul(weight, x) -> MatmulResult`` with Y = X @ Wᵀ.

A backend reads a weight through :class:`TensorLike` only, so it never needs
the GGUF reader: ``layoutscope.gguf.Tensor`` satisfies it, and so does any
object with the same few members (a tensor built in memory, a test's fake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, runtime_checkable

import numpy as np

#: Rows of a tensor: None for all of them, an int for one, a slice for a range.
Rows = "int | slice | None"


@runtime_checkable
class TensorTypeLike(Protocol):
    """What a backend reads of a tensor's ggml type (``layoutscope.formats.GGMLType`` satisfies it)."""

    #: ggml's type id (``8`` for Q8_0), what libggml is called with.
    id: int
    #: The GGUF enum spelling: ``F32``, ``Q8_0``, ``Q4_K``.
    name: str
    #: Elements per block and bytes per block.
    block_size: int
    type_size: int
    #: The type ggml quantizes X to for this weight's dot product (``Q8_0``, ``F32``...); None: no CPU matmul.
    vec_dot_type: Optional[str]
    #: False for types ggml has no matmul weight path for (e.g. I32).
    is_weight_type: bool


@runtime_checkable
class TensorLike(Protocol):
    """What a backend needs of a weight tensor W with ``ne = [K, N]`` (ne0 = K contiguous)."""

    name: str
    type: TensorTypeLike
    #: ggml's element counts, ne0 first.
    ne: tuple[int, ...]
    #: Dimensions in use (a matmul weight has 2) and rows (ne1·ne2·ne3).
    n_dims: int
    n_rows: int
    #: ``"<"`` or ``">"``: the byte order of the file's values.
    byteorder: str

    def raw(self, rows: Rows = None) -> np.ndarray:
        """The bytes of ``rows`` as uint8 (rows, row bytes): a view, no copy."""

    def dequantize(self, rows: Rows = None) -> np.ndarray:
        """``rows`` as float32 (rows, ne0)."""

    def require_data(self, action: str) -> None:
        """Raise (a ValueError saying why, naming ``action``) when the tensor has no data to ``action``."""


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

    def matmul(self, weight: TensorLike, x: np.ndarray) -> MatmulResult:
        """Y = X @ Wᵀ for a 2-D weight tensor W (``ne = [K, N]``) and float32 X (M, K)."""
        return self._matmul(weight, self.check(weight, x))

    @staticmethod
    def check(weight: TensorLike, x) -> np.ndarray:
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

    def _matmul(self, weight: TensorLike, x: np.ndarray) -> MatmulResult:  # pragma: no cover - abstract
        raise NotImplementedError
