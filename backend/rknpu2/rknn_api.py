"""Our own ctypes declarations of librknnrt's matmul API (no Rockchip header is used).

Every struct layout, enum value and error code here is written from the facts
in ``shared/reference/rknpu2.md`` §1 (which cites the public headers and user
guides of SDK 1.5.0 to 2.3.2). Offsets are for LP64 (aarch64, the RK3588
board); ctypes lays the same fields out for 32-bit ARM by itself.

Three generations of the runtime differ in what they export and in
``rknn_matmul_info``:

* 1.5.x: 24-byte info whose ``type`` is a tensor type (INT8=2, FP16=1);
  no ``rknn_mem_sync``, no quant params.
* 1.6.x: 24-byte info whose ``type`` is a matmul type (same numbers for
  INT8→INT32 and FP16→FP32, plus INT4→INT16); ``rknn_mem_sync`` appears.
* 2.x: 64-byte info with int16 layout / quant-type fields,
  ``rknn_matmul_set_quant_params``; 2.1+ adds ``group_size`` and renames
  the dynamic-shape constructor to ``rknn_matmul_create_dynamic_shape``.

UNVERIFIED on hardware: the layouts match the documented offsets and our
fake librknnrt, not a real runtime.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

MAX_DIMS = 16
MAX_NAME_LEN = 256

#: ``rknn_context`` is uint64 on 64-bit targets and uint32 on 32-bit ARM.
Context = ctypes.c_uint64 if ctypes.sizeof(ctypes.c_void_p) == 8 else ctypes.c_uint32

# -- enums ---------------------------------------------------------------------
TENSOR_TYPES = {"fp32": 0, "fp16": 1, "int8": 2, "uint8": 3, "int16": 4, "uint16": 5,
                "int32": 6, "uint32": 7, "int64": 8, "bool": 9, "int4": 10, "bf16": 11}
TENSOR_TYPE_NAMES = {v: k for k, v in TENSOR_TYPES.items()}

LAYOUT_NORM, LAYOUT_NATIVE, LAYOUT_TP_NORM = 0, 1, 2

QUANT_PER_LAYER_SYM = 0
QUANT_PER_CHANNEL_SYM = 2
QUANT_PER_GROUP_SYM = 4

CORE_AUTO, CORE_0, CORE_1, CORE_2 = 0, 1, 2, 4
#: Masks the matmul API accepts: one core each. Multi-core masks (3, 7) are
#: rejected with -1 ("Not support core mask: 3, fallback to single core").
SINGLE_CORE_MASKS = {0: CORE_0, 1: CORE_1, 2: CORE_2}

MEM_SYNC_TO_DEVICE = 0x1
MEM_SYNC_FROM_DEVICE = 0x2

# -- error codes ---------------------------------------------------------------
ERRORS: dict[int, tuple[str, str]] = {
    -1: ("RKNN_ERR_FAIL", "see the runtime's 'E RKNN:' log line on stderr; for set_core_mask it means a "
         "multi-core or unsupported mask"),
    -2: ("RKNN_ERR_TIMEOUT", "the NPU did not answer in time: check `dmesg` for rknpu errors and retry"),
    -3: ("RKNN_ERR_DEVICE_UNAVAILABLE", "the NPU device cannot be opened: check that the rknpu driver is loaded "
         "and that you may open its device node (try sudo, or add yourself to the render/video group)"),
    -4: ("RKNN_ERR_MALLOC_FAIL", "NPU memory is exhausted: the runtime allocates from a DMA32 heap of at most "
         "4 GiB; close other NPU users or use a smaller matrix"),
    -5: ("RKNN_ERR_PARAM_INVALID", "the runtime rejected the shape, matmul type or quant params: check the "
         "'E RKNN:' log line; per-channel B works only with INT8→INT8/INT32, and K, N must meet the alignment"),
    -6: ("RKNN_ERR_MODEL_INVALID", "not expected for the matmul API: update librknnrt"),
    -7: ("RKNN_ERR_CTX_INVALID", "the context was destroyed or never created: this is a layoutscope bug, please "
         "report it with --debug"),
    -8: ("RKNN_ERR_INPUT_INVALID", "an input buffer or its attr does not match the context: rerun with --debug "
         "and report it"),
    -9: ("RKNN_ERR_OUTPUT_INVALID", "the output buffer does not match the context: rerun with --debug and "
         "report it"),
    -10: ("RKNN_ERR_DEVICE_UNMATCH", "librknnrt does not match the NPU driver: install the runtime that matches "
          "`layoutscope doctor`'s driver version"),
    -11: ("RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL", "not expected for the matmul API: update librknnrt"),
    -12: ("RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION", "not expected for the matmul API: update librknnrt"),
    -13: ("RKNN_ERR_TARGET_PLATFORM_UNMATCH", "librknnrt is built for another SoC: pass --platform for this "
          "board or install the runtime for it"),
}


def error_name(code: int) -> str:
    """The ``RKNN_ERR_*`` name of ``code`` (or ``unknown error N``)."""
    return ERRORS.get(code, (f"unknown error {code}", ""))[0]


class RknnError(RuntimeError):
    """A librknnrt call failed: which call, the code's name, and what to do."""

    def __init__(self, function: str, code: int, context: str = ""):
        self.function, self.code = function, code
        name, advice = ERRORS.get(code, (f"unknown error {code}", "update librknnrt and rerun with --debug"))
        where = f" ({context})" if context else ""
        super().__init__(f"librknnrt {function}{where} returned {code} {name}: {advice}")


# -- structs -------------------------------------------------------------------
class TensorMem(ctypes.Structure):
    """``rknn_tensor_mem``: 40 bytes on LP64, unchanged from 1.4 to 2.3.2."""

    _fields_ = [
        ("virt_addr", ctypes.c_void_p),
        ("phys_addr", ctypes.c_uint64),
        ("fd", ctypes.c_int32),
        ("offset", ctypes.c_int32),
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("priv_data", ctypes.c_void_p),
    ]


class TensorAttr(ctypes.Structure):
    """``rknn_matmul_tensor_attr``: 332 bytes, unchanged from 1.5 to 2.3.2."""

    _fields_ = [
        ("name", ctypes.c_char * MAX_NAME_LEN),
        ("n_dims", ctypes.c_uint32),
        ("dims", ctypes.c_uint32 * MAX_DIMS),
        ("size", ctypes.c_uint32),
        ("type", ctypes.c_int32),
    ]

    @property
    def shape(self) -> tuple:
        """The dims the runtime reported, as a tuple."""
        return tuple(int(d) for d in self.dims[: min(int(self.n_dims), MAX_DIMS)])


class IoAttr(ctypes.Structure):
    """``rknn_matmul_io_attr``: A, B and C attrs (996 bytes)."""

    _fields_ = [("A", TensorAttr), ("B", TensorAttr), ("C", TensorAttr)]


class MatmulInfoV15(ctypes.Structure):
    """``rknn_matmul_info`` of SDK 1.5.x: ``type`` is a tensor type (24 bytes)."""

    _fields_ = [("M", ctypes.c_int32), ("K", ctypes.c_int32), ("N", ctypes.c_int32),
                ("type", ctypes.c_int32), ("native_layout", ctypes.c_int32), ("perf_layout", ctypes.c_int32)]


class MatmulInfoV16(ctypes.Structure):
    """``rknn_matmul_info`` of SDK 1.6.x: ``type`` is a matmul type (24 bytes)."""

    _fields_ = [("M", ctypes.c_int32), ("K", ctypes.c_int32), ("N", ctypes.c_int32),
                ("type", ctypes.c_int32), ("B_layout", ctypes.c_int32), ("AC_layout", ctypes.c_int32)]


class MatmulInfoV2(ctypes.Structure):
    """``rknn_matmul_info`` of SDK 2.x (64 bytes; ``group_size`` is 2.1+, reserved in 2.0)."""

    _fields_ = [
        ("M", ctypes.c_int32), ("K", ctypes.c_int32), ("N", ctypes.c_int32),
        ("type", ctypes.c_int32),
        ("B_layout", ctypes.c_int16), ("B_quant_type", ctypes.c_int16),
        ("AC_layout", ctypes.c_int16), ("AC_quant_type", ctypes.c_int16),
        ("iommu_domain_id", ctypes.c_int32),
        ("group_size", ctypes.c_int16),
        ("reserved", ctypes.c_int8 * 34),
    ]


class QuantParams(ctypes.Structure):
    """``rknn_quant_params`` (2.0+): one matrix's scales, matched by ``name``."""

    _fields_ = [
        ("name", ctypes.c_char * MAX_NAME_LEN),
        ("scale", ctypes.POINTER(ctypes.c_float)),
        ("scale_len", ctypes.c_int32),
        ("zp", ctypes.POINTER(ctypes.c_int32)),
        ("zp_len", ctypes.c_int32),
    ]


# -- generations ---------------------------------------------------------------
@dataclass(frozen=True)
class Generation:
    """What one runtime generation offers, as far as layoutscope uses it."""

    name: str
    info_struct: type
    has_mem_sync: bool
    has_quant_params: bool
    has_group_size: bool
    #: rknn_matmul_type values it can create; 1.5 takes tensor types 1/2, which coincide.
    matmul_values: frozenset


GENERATIONS = {
    "1.5": Generation("1.5", MatmulInfoV15, False, False, False, frozenset({1, 2})),
    "1.6": Generation("1.6", MatmulInfoV16, True, False, False, frozenset({1, 2, 10})),
    "2.0": Generation("2.0", MatmulInfoV2, True, True, False, frozenset({1, 2, 3, 4, 5, 6, 7, 8, 10, 11})),
    "2.1+": Generation("2.1+", MatmulInfoV2, True, True, True,
                       frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15})),
}

REQUIRED_SYMBOLS = ("rknn_matmul_create", "rknn_matmul_set_io_mem", "rknn_matmul_run",
                    "rknn_matmul_destroy", "rknn_create_mem", "rknn_destroy_mem")


def has_symbol(lib: ctypes.CDLL, name: str) -> bool:
    """True when ``lib`` exports ``name``."""
    try:
        getattr(lib, name)
    except AttributeError:
        return False
    return True


def detect_generation(lib: ctypes.CDLL) -> Generation:
    """The runtime generation, from the symbols ``lib`` exports.

    ``rknn_matmul_create_dynamic_shape`` is 2.1+; ``rknn_matmul_set_quant_params``
    is 2.0+; ``rknn_mem_sync`` is 1.6+. Raises ``LookupError`` naming the first
    missing matmul symbol when ``lib`` has no matmul API at all.
    """
    missing = [s for s in REQUIRED_SYMBOLS if not has_symbol(lib, s)]
    if missing:
        raise LookupError(f"it does not export {missing[0]}, so it has no matmul API (SDK 1.5.0 or newer needed)")
    if has_symbol(lib, "rknn_matmul_create_dynamic_shape"):
        return GENERATIONS["2.1+"]
    if has_symbol(lib, "rknn_matmul_set_quant_params"):
        return GENERATIONS["2.0"]
    if has_symbol(lib, "rknn_mem_sync"):
        return GENERATIONS["1.6"]
    return GENERATIONS["1.5"]


def declare(lib: ctypes.CDLL, generation: Generation) -> None:
    """Set argtypes/restype of every function layoutscope calls."""
    info_p = ctypes.POINTER(generation.info_struct)
    mem_p = ctypes.POINTER(TensorMem)
    c_int = ctypes.c_int
    signatures = {
        "rknn_matmul_create": (c_int, [ctypes.POINTER(Context), info_p, ctypes.POINTER(IoAttr)]),
        "rknn_matmul_set_io_mem": (c_int, [Context, mem_p, ctypes.POINTER(TensorAttr)]),
        "rknn_matmul_run": (c_int, [Context]),
        "rknn_matmul_destroy": (c_int, [Context]),
        "rknn_create_mem": (mem_p, [Context, ctypes.c_uint32]),
        "rknn_destroy_mem": (c_int, [Context, mem_p]),
    }
    if has_symbol(lib, "rknn_matmul_set_core_mask"):
        signatures["rknn_matmul_set_core_mask"] = (c_int, [Context, c_int])
    if generation.has_mem_sync:
        signatures["rknn_mem_sync"] = (c_int, [Context, mem_p, c_int])
    if generation.has_quant_params:
        signatures["rknn_matmul_set_quant_params"] = (c_int, [Context, ctypes.POINTER(QuantParams)])
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
