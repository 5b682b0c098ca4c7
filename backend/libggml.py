"""ctypes binding to the ggml that llama.cpp runs with: llama-cpp-python's own libraries (or ``LLAMA_CPP_LIB_PATH``).

Only what layoutscope needs is declared, written from ggml's public headers:
the per-type traits (``to_float``, block and type sizes), the chunk
quantizer, and the C GGUF reader used as a speed anchor. Everything here is
the *reference*: layoutscope's own numpy code is checked against it.
"""

from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import dataclass

import numpy as np


#: ggml's GGML_TYPE_COUNT for the 0.20 series; ids at or above it are out of its tables.
TYPE_COUNT = 43
#: ggml's GGML_MAX_N_THREADS: its thread pool holds no more.
MAX_THREADS = 512
#: Byte sizes from here on would overflow ggml's int64/size_t arithmetic once it pads and multiplies them.
MAX_BYTES = 1 << 62


class LibggmlUnavailable(RuntimeError):
    """libggml could not be loaded; the message says why and what to do."""


# ggml_to_float_t: void (*)(const void * x, float * y, int64_t k)
_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class _TypeTraits(ctypes.Structure):
    # struct ggml_type_traits, as declared in ggml.h (0.20.x).
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


class _TypeTraitsCpu(ctypes.Structure):
    # struct ggml_type_traits_cpu, as declared in ggml-cpu.h (0.20.x).
    _fields_ = [
        ("from_float", ctypes.c_void_p),
        ("vec_dot", ctypes.c_void_p),
        ("vec_dot_type", ctypes.c_int),
        ("nrows", ctypes.c_int64),
    ]


class _InitParams(ctypes.Structure):
    # struct ggml_init_params
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


class _GGUFInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]


@dataclass(frozen=True)
class TypeTraits:
    """What ggml itself says about one type id."""

    id: int
    name: str
    block_size: int
    type_size: int
    is_quantized: bool
    has_to_float: bool
    has_from_float_ref: bool
    requires_imatrix: bool


def library_dir() -> str:
    """The directory of the ggml libraries llama.cpp runs with: ``LLAMA_CPP_LIB_PATH``, else llama-cpp-python's.

    llama-cpp-python loads ``libllama`` (and the ggml it links) from the same
    place by the same rule, so the reference, ``to_float`` and the quantizers
    are the very ggml that runs the model: one copy of its symbols in the
    process. The package is located, not imported (importing it loads libllama).
    """
    configured = os.environ.get("LLAMA_CPP_LIB_PATH")
    if configured:
        if not all(os.path.exists(os.path.join(configured, name)) for name in _LIBRARIES):
            raise LibggmlUnavailable(
                f"LLAMA_CPP_LIB_PATH={configured} holds no {' and '.join(_LIBRARIES)}: point it at the directory "
                "of your llama.cpp build's shared libraries (built with -DBUILD_SHARED_LIBS=ON), or unset it")
        return configured
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise LibggmlUnavailable("llama-cpp-python is not installed; run `pip install llama-cpp-python` "
                                 "(it builds llama.cpp, a few minutes) or set LLAMA_CPP_LIB_PATH to your llama.cpp build")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "lib")
        if all(os.path.exists(os.path.join(path, name)) for name in _LIBRARIES):
            return path
    raise LibggmlUnavailable(f"llama-cpp-python at {list(spec.submodule_search_locations)} has no lib/ with "
                             f"{' and '.join(_LIBRARIES)}; reinstall it, or set LLAMA_CPP_LIB_PATH")


#: The ggml libraries loaded: the base (types, graphs, quantizers) and the CPU backend (mul_mat).
_LIBRARIES = ("libggml-base.so", "libggml-cpu.so")


class Libggml:
    """Loaded ggml base and CPU libraries, with typed entry points."""

    def __init__(self, directory: str | None = None):
        directory = directory or library_dir()
        try:
            # ggml-base must be loaded globally first: ggml-cpu links against it.
            self.base = ctypes.CDLL(
                os.path.join(directory, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL
            )
            self.cpu = ctypes.CDLL(
                os.path.join(directory, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL
            )
        except OSError as exc:
            raise LibggmlUnavailable(f"cannot load ggml from {directory}: {exc}") from exc
        self._declare()
        self.cpu.ggml_cpu_init()
        self._to_float: dict[int, object] = {}

    def _declare(self) -> None:
        b = self.base
        b.ggml_get_type_traits.argtypes = [ctypes.c_int]
        b.ggml_get_type_traits.restype = ctypes.POINTER(_TypeTraits)
        b.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
        b.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
        b.ggml_quantize_init.argtypes = [ctypes.c_int]
        b.ggml_quantize_init.restype = None
        b.ggml_quantize_chunk.argtypes = [
            ctypes.c_int,  # type
            ctypes.c_void_p,  # const float * src
            ctypes.c_void_p,  # void * dst
            ctypes.c_int64,  # start
            ctypes.c_int64,  # nrows
            ctypes.c_int64,  # n_per_row
            ctypes.c_void_p,  # const float * imatrix
        ]
        b.ggml_quantize_chunk.restype = ctypes.c_size_t
        b.gguf_init_from_file.argtypes = [ctypes.c_char_p, _GGUFInitParams]
        b.gguf_init_from_file.restype = ctypes.c_void_p
        b.gguf_free.argtypes = [ctypes.c_void_p]
        b.gguf_free.restype = None
        b.gguf_get_n_tensors.argtypes = [ctypes.c_void_p]
        b.gguf_get_n_tensors.restype = ctypes.c_int64
        b.gguf_get_n_kv.argtypes = [ctypes.c_void_p]
        b.gguf_get_n_kv.restype = ctypes.c_int64
        b.gguf_get_data_offset.argtypes = [ctypes.c_void_p]
        b.gguf_get_data_offset.restype = ctypes.c_size_t
        b.gguf_get_tensor_offset.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        b.gguf_get_tensor_offset.restype = ctypes.c_size_t
        self.cpu.ggml_cpu_init.argtypes = []
        self.cpu.ggml_cpu_init.restype = None
        vp = ctypes.c_void_p
        for name, args, res in (
            ("ggml_init", [_InitParams], vp),
            ("ggml_free", [vp], None),
            ("ggml_tensor_overhead", [], ctypes.c_size_t),
            ("ggml_graph_overhead", [], ctypes.c_size_t),
            ("ggml_new_tensor_2d", [vp, ctypes.c_int, ctypes.c_int64, ctypes.c_int64], vp),
            ("ggml_get_data", [vp], vp),
            ("ggml_mul_mat", [vp, vp, vp], vp),
            ("ggml_new_graph", [vp], vp),
            ("ggml_build_forward_expand", [vp, vp], None),
            ("ggml_set_no_alloc", [vp, ctypes.c_bool], None),
            ("ggml_backend_cpu_buffer_from_ptr", [vp, ctypes.c_size_t], vp),
            ("ggml_backend_tensor_alloc", [vp, vp, vp], ctypes.c_int),
            ("ggml_backend_buffer_free", [vp], None),
        ):
            fn = getattr(b, name)
            fn.argtypes, fn.restype = args, res
        self.cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
        self.cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(_TypeTraitsCpu)
        self.cpu.ggml_graph_compute_with_ctx.argtypes = [vp, vp, ctypes.c_int]
        self.cpu.ggml_graph_compute_with_ctx.restype = ctypes.c_int

    # -- type traits -----------------------------------------------------
    def traits(self, type_id: int) -> TypeTraits:
        """ggml's own view of a type id (block size 0 means removed)."""
        type_id = _type_index(type_id)
        t = self.base.ggml_get_type_traits(type_id).contents
        return TypeTraits(
            id=type_id,
            name=(t.type_name or b"").decode(),
            block_size=int(t.blck_size),
            type_size=int(t.type_size),
            is_quantized=bool(t.is_quantized),
            has_to_float=bool(t.to_float),
            has_from_float_ref=bool(t.from_float_ref),
            requires_imatrix=bool(self.base.ggml_quantize_requires_imatrix(type_id)),
        )

    # -- dequantization --------------------------------------------------
    def to_float(self, type_id: int, raw: np.ndarray, n_elements: int) -> np.ndarray:
        """Run ggml's ``to_float`` for ``type_id`` over ``raw`` bytes.

        Q8_K has no ``to_float`` in ggml's traits; its exported
        ``dequantize_row_q8_K`` is used instead. ValueError, before ggml is
        called, when ``n_elements`` is not a whole number of blocks or
        ``raw`` holds fewer bytes than they need (ggml would read past it).
        """
        fn = self._to_float.get(type_id)
        if fn is None:
            fn = self._to_float[type_id] = self._find_to_float(type_id)
        t = self.traits(type_id)
        n = _count(n_elements, "n_elements", minimum=0)
        if n % t.block_size:
            raise ValueError(f"{n} elements are not a whole number of {t.name} blocks of {t.block_size}")
        need = _bytes(n // t.block_size, t.type_size, f"{n} {t.name} elements")
        src = np.ascontiguousarray(raw).view(np.uint8)
        if src.nbytes < need:
            raise ValueError(f"{n} {t.name} elements need {need} bytes, the buffer holds {src.nbytes}")
        out = np.empty(n, dtype=np.float32)
        if n:
            fn(src.ctypes.data, out.ctypes.data, n)
        return out

    def has_to_float(self, type_id: int) -> bool:
        """True when ggml can dequantize ``type_id`` (see :meth:`to_float`)."""
        try:
            self._find_to_float(type_id)
        except ValueError:
            return False
        return True

    def _find_to_float(self, type_id: int):
        type_id = _type_index(type_id)
        traits = self.base.ggml_get_type_traits(type_id).contents
        if traits.to_float:
            return _TO_FLOAT(traits.to_float)
        # Q8_K has a row dequantizer that type_traits does not list.
        name = (traits.type_name or b"").decode()
        symbol = getattr(self.base, f"dequantize_row_{name}", None) if name else None
        if symbol is None:
            raise ValueError(f"ggml has no to_float for type id {type_id}")
        return _TO_FLOAT(ctypes.cast(symbol, ctypes.c_void_p).value)

    # -- quantization ----------------------------------------------------
    def quantize(
        self, type_id: int, values: np.ndarray, imatrix: np.ndarray | None = None
    ) -> np.ndarray:
        """Quantize float32 rows (nrows, n_per_row) with ggml_quantize_chunk.

        Returns the raw bytes as uint8 (nrows, row_bytes). ValueError, before
        ggml is called, for what ggml would abort on or read past: a type
        ``ggml_quantize_chunk`` cannot write, empty rows, a row length that is
        not a whole number of blocks, a missing or mis-sized importance
        matrix, and non-finite values (the i-quant searches abort on NaN).
        """
        rows = np.ascontiguousarray(values, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2:
            raise ValueError(f"quantize needs float rows (nrows, n_per_row), got shape {rows.shape}")
        nrows, n_per_row = rows.shape
        t = self.traits(type_id)
        if self.vec_dot_type(t.id) is None:
            # ggml_quantize_chunk writes exactly the weight types (those with a CPU dot product).
            raise ValueError(f"ggml cannot quantize to {t.name or type_id}: it is not a weight type")
        _count(nrows, "rows to quantize")
        _count(n_per_row, "values per row")
        if n_per_row % t.block_size:
            raise ValueError(
                f"row length {n_per_row} is not a multiple of block size {t.block_size}"
            )
        row_bytes = _bytes(n_per_row // t.block_size, t.type_size, "a quantized row")
        _bytes(nrows, row_bytes, "the quantized rows")
        if not np.isfinite(rows).all():
            raise ValueError(f"ggml cannot quantize non-finite values to {t.name}: "
                             f"{int(np.count_nonzero(~np.isfinite(rows)))} are NaN or inf")
        imat_ptr = None
        if imatrix is not None:
            imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
            if imatrix.shape != (n_per_row,):
                raise ValueError(f"the importance matrix must hold {n_per_row} values (one per column), "
                                 f"got shape {imatrix.shape}")
            if not (np.isfinite(imatrix).all() and (imatrix >= 0).all()):
                raise ValueError("the importance matrix must be finite and non-negative")
            imat_ptr = imatrix.ctypes.data
        elif t.requires_imatrix:
            raise ValueError(f"ggml requires an importance matrix to quantize {t.name}")
        out = np.zeros((nrows, row_bytes), dtype=np.uint8)
        self.base.ggml_quantize_init(type_id)
        written = self.base.ggml_quantize_chunk(
            type_id, rows.ctypes.data, out.ctypes.data, 0, nrows, n_per_row, imat_ptr
        )
        if written != out.nbytes:
            raise RuntimeError(f"ggml wrote {written} bytes, expected {out.nbytes}")
        return out

    # -- matmul ------------------------------------------------------------
    def vec_dot_type(self, type_id: int):
        """The type ggml's CPU converts activations to for ``type_id`` weights; None if it has no dot product."""
        try:
            type_id = _type_index(type_id)
        except ValueError:
            return None
        t = self.cpu.ggml_get_type_traits_cpu(type_id).contents
        return int(t.vec_dot_type) if t.vec_dot else None

    def _matmul_traits(self, type_id: int) -> TypeTraits:
        """The traits of a weight type ggml's CPU can multiply; ValueError for any other id."""
        t = self.traits(type_id)
        vdt = self.vec_dot_type(t.id)
        if vdt is None:
            # ggml would crash, not fail, on a type without a CPU dot product.
            raise ValueError(f"ggml's CPU backend has no matmul for type id {type_id}")
        if vdt != 0 and not self.cpu.ggml_get_type_traits_cpu(vdt).contents.from_float:
            raise ValueError(f"ggml's CPU backend cannot convert activations to {self.traits(vdt).name} "
                             f"for type id {type_id}")
        return t

    def mul_mat(self, type_id: int, weight_rows: np.ndarray, k: int, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """``ggml_mul_mat(W, X)`` on ggml's CPU backend: Y = X @ Wᵀ, float32 (M, N).

        ``weight_rows`` is the raw weight, uint8 (N, row_bytes) with ``k``
        elements per row; ``x`` is float32 (M, K). ggml converts X to the
        weight type's vec_dot_type itself, exactly as llama.cpp does.

        Everything ggml asserts on is checked first and raises ValueError: a
        type without a CPU matmul, zero or negative M, N, K or threads, K not a
        whole number of blocks, rows of the wrong byte length, sizes beyond
        ggml's arithmetic. A weight off ggml's buffer alignment is copied.
        """
        t = self._matmul_traits(type_id)
        k = _count(k, "K (elements per weight row)")
        if k % t.block_size or k % self.traits(self.vec_dot_type(t.id)).block_size:
            raise ValueError(f"K = {k} is not a whole number of {t.name} blocks "
                             f"(and of its activation type's blocks)")
        row_bytes = _bytes(k // t.block_size, t.type_size, "a weight row")
        threads = _count(threads, "threads")
        if threads > MAX_THREADS:
            raise ValueError(f"threads = {threads}: ggml runs at most {MAX_THREADS}")
        weight_rows = np.asarray(weight_rows)
        if weight_rows.dtype != np.uint8:
            raise ValueError(f"weight rows must be raw bytes (uint8), got {weight_rows.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != k or x.shape[0] < 1:
            raise ValueError(f"activations must have shape (M, {k}) with M >= 1, got {x.shape}")
        if weight_rows.ndim != 2 or weight_rows.shape[1] != row_bytes or weight_rows.shape[0] < 1:
            raise ValueError(f"weight rows must be uint8 (N, row bytes) holding {k} elements each, "
                             f"with N >= 1, got {weight_rows.shape}")
        w = _aligned(np.ascontiguousarray(weight_rows))
        n, m = w.shape[0], x.shape[0]
        b = self.base
        # Room for X, Y, the graph, and the work buffer ggml allocates in the
        # context to convert X to vec_dot_type (at most 4 bytes per value, plus
        # per-thread padding). W is not copied: ggml reads it where it lies
        # (the model's memory map), through a CPU buffer wrapping that memory.
        out_bytes = _bytes(m, _bytes(n, 4, "the output"), "the output")
        mem = _bytes(1, 2 * x.nbytes + out_bytes + 8 * b.ggml_tensor_overhead() + b.ggml_graph_overhead()
                     + 64 * 1024 * (threads + 1) + (1 << 20), "ggml's working memory")
        # ggml aborts when its own allocation fails: allocate here, where that is a MemoryError.
        arena = _aligned_empty(mem)
        ctx = b.ggml_init(_InitParams(mem, arena.ctypes.data, False))
        if not ctx:
            raise MemoryError(f"ggml_init could not allocate {mem} bytes")
        buffer = None
        try:
            b.ggml_set_no_alloc(ctx, True)
            wt = b.ggml_new_tensor_2d(ctx, type_id, k, n)
            b.ggml_set_no_alloc(ctx, False)
            buffer = b.ggml_backend_cpu_buffer_from_ptr(w.ctypes.data, w.nbytes)
            if not buffer or b.ggml_backend_tensor_alloc(buffer, wt, w.ctypes.data) != 0:
                raise RuntimeError("ggml could not wrap the weight's memory in a CPU buffer")
            xt = b.ggml_new_tensor_2d(ctx, 0, k, m)
            ctypes.memmove(b.ggml_get_data(xt), x.ctypes.data, x.nbytes)
            yt = b.ggml_mul_mat(ctx, wt, xt)
            graph = b.ggml_new_graph(ctx)
            b.ggml_build_forward_expand(graph, yt)
            status = self.cpu.ggml_graph_compute_with_ctx(ctx, graph, int(threads))
            if status != 0:
                raise RuntimeError(f"ggml_graph_compute failed with status {status}")
            y = np.empty((m, n), dtype=np.float32)
            ctypes.memmove(y.ctypes.data, b.ggml_get_data(yt), y.nbytes)
            return y
        finally:
            b.ggml_free(ctx)
            if buffer:
                b.ggml_backend_buffer_free(buffer)

    # -- the C GGUF reader ---------------------------------------------------
    def gguf_open_close(self, path: str) -> int:
        """Parse a GGUF header with ggml's C reader (no_alloc) and free it.

        Returns the tensor count, or raises ValueError if ggml rejects the file.
        """
        encoded = os.fsencode(path)
        if b"\0" in encoded:
            raise ValueError(f"{path!r}: a path cannot contain a NUL byte")
        ctx = self.base.gguf_init_from_file(encoded, _GGUFInitParams(True, None))
        if not ctx:
            raise ValueError(f"ggml's gguf reader rejected {path}")
        try:
            return int(self.base.gguf_get_n_tensors(ctx))
        finally:
            self.base.gguf_free(ctx)


#: ggml's CPU buffers abort on a pointer that is not a multiple of its TENSOR_ALIGNMENT (32).
_BUFFER_ALIGNMENT = 64


def _aligned(data: np.ndarray) -> np.ndarray:
    """``data`` itself when ggml may wrap it in place, else a copy that starts on a 64-byte boundary.

    GGUF's default alignment (32) keeps memory-mapped tensors in place; a file
    with a smaller ``general.alignment``, or a copy numpy made, may not be.
    """
    if data.ctypes.data % _BUFFER_ALIGNMENT == 0:
        return data
    copy = _aligned_empty(data.nbytes).reshape(data.shape)
    copy[...] = data
    return copy


def _aligned_empty(nbytes: int) -> np.ndarray:
    """Uninitialised uint8 memory of ``nbytes`` starting on a 64-byte boundary (MemoryError if there is none)."""
    spare = np.empty(nbytes + _BUFFER_ALIGNMENT, np.uint8)
    start = -spare.ctypes.data % _BUFFER_ALIGNMENT
    return spare[start:start + nbytes]


def _type_index(type_id) -> int:
    """``type_id`` as an index into ggml's type tables; ValueError outside them."""
    if isinstance(type_id, bool) or not isinstance(type_id, (int, np.integer)):
        raise ValueError(f"type id must be an integer, got {type_id!r}")
    if not 0 <= int(type_id) < TYPE_COUNT:
        raise ValueError(f"type id {type_id} is outside ggml's table")
    return int(type_id)


def _count(value, what: str, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``; ValueError naming ``what`` otherwise.

    ggml asserts on zero or negative sizes, which would abort the process.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{what} = {value}: ggml needs at least {minimum}")
    return int(value)


def _bytes(count: int, size: int, what: str) -> int:
    """``count × size`` bytes, or ValueError when that is beyond what ggml's size arithmetic holds."""
    total = int(count) * int(size)
    if total >= MAX_BYTES:
        raise ValueError(f"{what} would take {total} bytes, more than ggml's sizes can hold")
    return total


@functools.lru_cache(maxsize=1)
def load() -> Libggml:
    """The process-wide libggml instance (loaded on first use)."""
    return Libggml()
