"""A weight held in memory, for tests of what a backend needs of a tensor (``backend.base.TensorLike``)."""

from __future__ import annotations

import numpy as np

from layoutscope.formats import ggml_type


class ArrayWeight:
    """An F32 weight W (N, K) held in memory: no file, no reader."""

    def __init__(self, values: np.ndarray, name: str = "fake.weight"):
        self.values = np.ascontiguousarray(values, dtype=np.float32)
        self.name = name
        self.type = ggml_type("F32")
        self.n_rows, k = self.values.shape
        self.ne = (k, self.n_rows)
        self.n_dims = 2
        self.byteorder = "<"

    def _rows(self, rows) -> np.ndarray:
        if rows is None:
            return self.values
        return self.values[rows:rows + 1] if isinstance(rows, int) else self.values[rows]

    def raw(self, rows=None) -> np.ndarray:
        return self._rows(rows).view(np.uint8)

    def dequantize(self, rows=None) -> np.ndarray:
        return self._rows(rows).copy()

    def require_data(self, action: str) -> None:
        return None
