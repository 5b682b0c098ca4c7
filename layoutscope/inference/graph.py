"""ggml's tensor struct, read from Python: the nodes llama.cpp's evaluation callback hands over.

:class:`GgmlTensor` is declared from ``ggml.h``'s layout (ggml 0.20-0.25);
:func:`check_layout` compares its size with what the loaded library reports
(``ggml_tensor_overhead()`` is the struct plus ggml's 32-byte object header),
so a llama.cpp build with another layout is one clear error, not a crash.

:class:`Node` wraps one node pointer: its op, name, sources, and its data as a
numpy view. Only F32 data in host memory is read; a strided view (a permuted
or sliced input) is read through its strides. Writing into a node's data
before the callback returns is what every later op of the graph reads.
"""

from __future__ import annotations

import ctypes
from typing import Optional

import numpy as np

#: ggml.h's GGML_MAX_DIMS, GGML_MAX_OP_PARAMS (bytes), GGML_MAX_SRC and GGML_MAX_NAME.
MAX_DIMS, MAX_OP_PARAMS, MAX_SRC, MAX_NAME = 4, 64, 10, 64
#: The object header ggml puts before every tensor in a context (``struct ggml_object``).
OBJECT_HEADER = 32
#: ggml's type id of float32.
F32 = 0


class GgmlTensor(ctypes.Structure):
    """``struct ggml_tensor`` as ``ggml.h`` declares it (fields in order; ctypes adds the same padding)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * MAX_DIMS),
        ("nb", ctypes.c_size_t * MAX_DIMS),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * (MAX_OP_PARAMS // 4)),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * MAX_SRC),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * MAX_NAME),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


class LayoutMismatch(RuntimeError):
    """The loaded ggml's tensor struct is not the one declared here."""


def check_layout(tensor_overhead: int) -> None:
    """Raise :class:`LayoutMismatch` unless ``ggml_tensor_overhead()`` fits :class:`GgmlTensor`."""
    expected = ctypes.sizeof(GgmlTensor) + OBJECT_HEADER
    if tensor_overhead != expected:
        raise LayoutMismatch(
            f"the loaded ggml's tensors take {tensor_overhead} bytes, layoutscope reads {expected} "
            f"(struct ggml_tensor of ggml 0.20-0.25); this llama.cpp build's ggml.h differs, so its graph "
            "cannot be read safely: use llama-cpp-python 0.3.36's own build, or a llama.cpp of the same ggml")


class Node:
    """One graph node (a ``struct ggml_tensor *``): op, name, sources and data as numpy views."""

    __slots__ = ("address", "_struct")

    def __init__(self, address: int):
        self.address = address
        self._struct = GgmlTensor.from_address(address)

    @property
    def op(self) -> int:
        """ggml's op id (compare with :func:`op_id` of a name)."""
        return self._struct.op

    @property
    def name(self) -> str:
        """The node's name in the graph (a weight's GGUF name, or llama.cpp's ``l_out-3``)."""
        return self._struct.name.decode("utf-8", errors="replace")

    @property
    def ne(self) -> tuple[int, ...]:
        """Element counts, ne0 (contiguous) first."""
        return tuple(self._struct.ne)

    def source(self, index: int) -> Optional["Node"]:
        """``src[index]``, or None."""
        address = self._struct.src[index]
        return Node(address) if address else None

    def values(self, what: str) -> np.ndarray:
        """The data as float32 (ne1·ne2·ne3, ne0): a view of ggml's memory, through the strides when strided.

        ``what`` names the node in the ValueError raised for data that cannot be read (another type, no data).
        """
        s = self._struct
        if s.type != F32:
            raise ValueError(f"{what} is ggml type {s.type}, not F32: layoutscope reads float32 activations only")
        if not s.data:
            raise ValueError(f"{what} has no data in host memory (another backend holds it)")
        ne, nb = list(s.ne), list(s.nb)
        extent = 4 + sum((n - 1) * stride for n, stride in zip(ne, nb))
        # numpy order is ne3, ne2, ne1, ne0 with ggml's byte strides; contiguous data gives a plain view.
        view = np.ndarray(tuple(reversed(ne)), dtype=np.float32, strides=tuple(reversed(nb)),
                          buffer=(ctypes.c_char * extent).from_address(s.data))
        return view.reshape(-1, ne[0])  # a copy only when the strides do not allow a view

    def writable_rows(self, what: str) -> np.ndarray:
        """The data as a writable float32 (rows, ne0) view; ValueError unless it is contiguous F32."""
        s = self._struct
        ne, nb = list(s.ne), list(s.nb)
        contiguous = nb[0] == 4 and all(nb[i] == nb[i - 1] * ne[i - 1] for i in range(1, MAX_DIMS))
        if s.type != F32 or not s.data or not contiguous:
            raise ValueError(f"{what} is not contiguous float32 in host memory, so a result cannot be written into it")
        count = ne[0] * ne[1] * ne[2] * ne[3]
        return np.ctypeslib.as_array((ctypes.c_float * count).from_address(s.data)).reshape(-1, ne[0])


def op_id(op_name, wanted: str, limit: int = 256) -> int:
    """The id of ggml's op ``wanted`` (e.g. ``MUL_MAT``), asking ``ggml_op_name`` id by id from 0.

    The walk stops at the op sought, so it never asks for an id past the
    library's table (which ``ggml_op_name`` does not check).
    """
    for op in range(limit):
        raw = op_name(op)
        if raw is not None and raw.decode() == wanted:
            return op
    raise LookupError(f"the loaded ggml has no op {wanted}")
