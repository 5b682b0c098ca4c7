"""The real NPU through librknnrt: find and load the library, run one matmul call.

:func:`find_runtime` looks at ``LAYOUTSCOPE_RKNNRT`` first, then the standard
library search. :class:`Runtime` wraps a loaded library and its generation
(see ``rknn_api``). :class:`MatmulCall` owns one matmul context and its three
buffers, and frees all of them on every path, errors included:

    create → set_core_mask (one core) → set_quant_params → create_mem ×3 →
    write A, B → mem_sync(TO_DEVICE) → set_io_mem ×3 → run →
    mem_sync(FROM_DEVICE) → read C → destroy_mem ×3 → destroy

The io_attr dims the runtime reports are checked against our platform table;
a mismatch is kept as a *finding* and shown to the user, never used silently.

UNVERIFIED: this binding has only run against the fake librknnrt the test
suite builds (``tests/fake_rknnrt``), never on RK3588 hardware. Whether the
real runtime needs the cache syncs, and what it reports for io_attr, are
exactly what ``doctor`` and the findings are there to reveal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import layout, rknn_api
from .platforms import MATMUL_TYPES, Platform
from .rknn_api import RknnError

ENV_VAR = "LAYOUTSCOPE_RKNNRT"
#: Where Rockchip's installers and board images put the runtime.
_LIB_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/local/lib")
_VERSION = re.compile(rb"librknnrt version: ([0-9][^\x00\r\n]{0,80})")



class RuntimeUnavailable(RuntimeError):
    """librknnrt cannot be found or loaded here; the message says why and what to do."""


class LayoutMismatch(RuntimeError):
    """The runtime's C buffer cannot be read with our platform table (a finding to report)."""


def find_runtime(environ=None) -> str:
    """Path (or soname) of librknnrt; :class:`RuntimeUnavailable` says why there is none."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_VAR)
    if explicit:
        if not Path(explicit).is_file():
            raise RuntimeUnavailable(f"{ENV_VAR}={explicit}: no such file (point it at librknnrt.so)")
        return explicit
    for directory in _LIB_DIRS:
        candidate = Path(directory) / "librknnrt.so"
        if candidate.is_file():
            return str(candidate)
    found = ctypes.util.find_library("rknnrt")
    if found:
        return found
    raise RuntimeUnavailable(
        "librknnrt.so not found (not in /usr/lib nor the linker's search path): this is not an RKNPU2 board, "
        f"or the runtime is not installed; install Rockchip's librknnrt or set {ENV_VAR}=/path/to/librknnrt.so"
    )


def runtime_version(path: str) -> Optional[str]:
    """The version string embedded in the library file (``None`` if absent or unreadable)."""
    resolved = path if os.path.sep in path else _resolve_soname(path)
    try:
        with open(resolved, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            match = _VERSION.search(data)
            found = bytes(match.group(1)) if match else None
    except (OSError, ValueError):
        return None
    return found.decode("ascii", "replace").strip() if found else None


def _resolve_soname(name: str) -> str:
    for directory in _LIB_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return name


class Runtime:
    """A loaded librknnrt: its path, version and API generation."""

    def __init__(self, path: Optional[str] = None):
        self.path = path or find_runtime()
        try:
            self.lib = ctypes.CDLL(self.path)
        except OSError as exc:
            raise RuntimeUnavailable(f"cannot load {self.path}: {exc}") from None
        try:
            self.generation = rknn_api.detect_generation(self.lib)
        except LookupError as exc:
            raise RuntimeUnavailable(f"{self.path}: {exc}") from None
        rknn_api.declare(self.lib, self.generation)
        self.version = runtime_version(self.path)

    def describe(self) -> str:
        """``librknnrt 2.3.2 (API 2.1+) at /usr/lib/librknnrt.so``."""
        version = self.version or "of unknown version"
        return f"librknnrt {version} (API generation {self.generation.name}) at {self.path}"

    def supports(self, mm: str) -> bool:
        """True when this runtime generation has matmul type ``mm`` at all (the SoC may still refuse it)."""
        return MATMUL_TYPES[mm].rknn_value in self.generation.matmul_values

    def call(self, platform: Platform, mm: str, M: int, K: int, N: int, *, core: int = 0,
             b_quant: str = "per-layer", group: int = 0) -> "MatmulCall":
        """A :class:`MatmulCall` for padded (M, K, N); use it in a ``with`` block."""
        return MatmulCall(self, platform, mm, M, K, N, core=core, b_quant=b_quant, group=group)


@dataclass
class CallOutput:
    """What one call produced: native C, and anything the user must hear about."""

    c_native: np.ndarray
    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)


_B_QUANT = {"per-layer": rknn_api.QUANT_PER_LAYER_SYM, "per-channel": rknn_api.QUANT_PER_CHANNEL_SYM,
            "per-group": rknn_api.QUANT_PER_GROUP_SYM}


class MatmulCall:
    """One matmul context with its A, B and C buffers (native layouts)."""

    def __init__(self, runtime: Runtime, platform: Platform, mm: str, M: int, K: int, N: int, *,
                 core: int = 0, b_quant: str = "per-layer", group: int = 0):
        self.runtime, self.lib, self.platform = runtime, runtime.lib, platform
        self.mm = MATMUL_TYPES[mm]
        self.M, self.K, self.N = M, K, N
        self.core, self.b_quant, self.group = core, b_quant, group
        self.ctx = rknn_api.Context(0)
        self.io = rknn_api.IoAttr()
        self.mems: dict[str, ctypes.POINTER(rknn_api.TensorMem)] = {}
        self.findings: list[str] = []
        self.notes: list[str] = []
        self._created = False

    # -- lifetime --------------------------------------------------------------
    def __enter__(self) -> "MatmulCall":
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        except RknnError:
            if exc_type is None:
                raise  # a failure while freeing is reported unless an earlier error is already on its way

    def close(self) -> None:
        """Destroy the buffers, then the context; safe to call twice and after a failed create."""
        errors = []
        for name in list(self.mems):
            code = self.lib.rknn_destroy_mem(self.ctx, self.mems.pop(name))
            if code:
                errors.append(RknnError("rknn_destroy_mem", code, name))
        if self._created:
            self._created = False
            code = self.lib.rknn_matmul_destroy(self.ctx)
            if code:
                errors.append(RknnError("rknn_matmul_destroy", code))
        if errors:
            raise errors[0]

    def _check(self, function: str, code: int, context: str = "") -> None:
        if code != 0:
            raise RknnError(function, code, context)

    def _create(self) -> None:
        gen = self.runtime.generation
        if self.mm.rknn_value not in gen.matmul_values:
            raise RknnError("rknn_matmul_create", -5,
                            f"{self.mm.rknn_name} does not exist in API generation {gen.name}; "
                            "use --mm int8 or update librknnrt")
        info = gen.info_struct()  # ctypes zero-fills: every unused and reserved field is 0
        info.M, info.K, info.N, info.type = self.M, self.K, self.N, self.mm.rknn_value
        if gen.name == "1.5":
            info.native_layout, info.perf_layout = rknn_api.LAYOUT_NATIVE, rknn_api.LAYOUT_NATIVE
        else:
            info.B_layout, info.AC_layout = rknn_api.LAYOUT_NATIVE, rknn_api.LAYOUT_NATIVE
        if self.b_quant != "per-layer":
            if not gen.has_quant_params or (self.b_quant == "per-group" and not gen.has_group_size):
                raise RknnError("rknn_matmul_create", -5,
                                f"{self.b_quant} B needs a newer librknnrt than API generation {gen.name}")
            info.B_quant_type = _B_QUANT[self.b_quant]
            if self.b_quant == "per-group":
                info.group_size = self.group
        self._check("rknn_matmul_create",
                    self.lib.rknn_matmul_create(ctypes.byref(self.ctx), ctypes.byref(info), ctypes.byref(self.io)),
                    f"M={self.M} K={self.K} N={self.N} {self.mm.rknn_name}")
        self._created = True
        self._check_io_attrs()
        if rknn_api.has_symbol(self.lib, "rknn_matmul_set_core_mask") and self.platform.npu_cores > 1:
            mask = rknn_api.SINGLE_CORE_MASKS[self.core]
            self._check("rknn_matmul_set_core_mask", self.lib.rknn_matmul_set_core_mask(self.ctx, mask),
                        f"mask {mask} (NPU core {self.core})")

    # -- io_attr check ---------------------------------------------------------
    def _expected(self) -> dict:
        p, t, M, K, N = self.platform, self.mm, self.M, self.K, self.N
        return {
            "A": (layout.native_shape("A", p, t.a_dtype, M, K, N), layout.native_nbytes("A", p, t.a_dtype, M, K, N),
                  t.a_dtype),
            "B": (layout.native_shape("B", p, t.b_dtype, M, K, N), layout.native_nbytes("B", p, t.b_dtype, M, K, N),
                  t.b_dtype),
            "C": (layout.native_shape("C", p, t.name, M, K, N), layout.native_nbytes("C", p, t.name, M, K, N),
                  t.c_dtype),
        }

    def _check_io_attrs(self) -> None:
        for name, (shape, nbytes, dtype) in self._expected().items():
            attr = getattr(self.io, name)
            got_type = rknn_api.TENSOR_TYPE_NAMES.get(int(attr.type), f"type {attr.type}")
            if attr.shape != tuple(shape) or int(attr.size) != nbytes:
                self.findings.append(
                    f"io_attr.{name}: the runtime reports dims {attr.shape}, {attr.size} B, but layoutscope's "
                    f"{self.platform.name} table says {tuple(shape)}, {nbytes} B for {dtype} {name}; the buffers "
                    "are packed to our table, so expect a wrong result. Please report this finding "
                    "(with `layoutscope doctor`)"
                )
            elif got_type not in (dtype, "uint8" if dtype == "int4" else dtype):
                self.notes.append(f"io_attr.{name}.type is {got_type}, layoutscope expected {dtype}")

    # -- running ---------------------------------------------------------------
    def set_scales(self, a_scale: Optional[float] = None, b_scale=None, c_scale: Optional[float] = None) -> None:
        """Give the runtime its quant params (2.x only); unset matrices keep scale 1.0."""
        wanted = {k: v for k, v in (("A", a_scale), ("B", b_scale), ("C", c_scale)) if v is not None}
        if not wanted:
            return
        if not self.runtime.generation.has_quant_params:
            raise RknnError("rknn_matmul_set_quant_params", -5,
                            f"API generation {self.runtime.generation.name} has no quant params; use --mm int8")
        for name, scale in wanted.items():
            values = np.ascontiguousarray(np.asarray(scale, dtype=np.float32).reshape(-1))
            params = rknn_api.QuantParams()
            params.name = name.encode()
            params.scale = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            params.scale_len = values.size
            # zp stays NULL with zp_len 0: symmetric, as Rockchip's per-group demo does.
            self._check("rknn_matmul_set_quant_params",
                        self.lib.rknn_matmul_set_quant_params(self.ctx, ctypes.byref(params)),
                        f"{name}: {values.size} scale(s)")

    def run(self, a_native: np.ndarray, b_native: np.ndarray) -> CallOutput:
        """Write native A and B, run, and return native C."""
        for name, data in (("A", a_native), ("B", b_native), ("C", None)):
            attr = getattr(self.io, name)
            mem = self.lib.rknn_create_mem(self.ctx, attr.size)
            if not mem:
                raise RknnError("rknn_create_mem", -4, f"{name}, {attr.size} B")
            self.mems[name] = mem
            if data is not None:
                raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
                if raw.size > attr.size:
                    raise RknnError("rknn_matmul_set_io_mem", -8,
                                    f"native {name} is {raw.size} B but the runtime's buffer is {attr.size} B")
                ctypes.memmove(mem.contents.virt_addr, raw.ctypes.data, raw.size)
                self._sync(name, rknn_api.MEM_SYNC_TO_DEVICE)
        # set_io_mem after the data is written: the user guide says it may rearrange it.
        for name in ("A", "B", "C"):
            self._check("rknn_matmul_set_io_mem",
                        self.lib.rknn_matmul_set_io_mem(self.ctx, self.mems[name], ctypes.byref(getattr(self.io, name))),
                        name)
        self._check("rknn_matmul_run", self.lib.rknn_matmul_run(self.ctx))
        self._sync("C", rknn_api.MEM_SYNC_FROM_DEVICE)
        c = self.mems["C"].contents
        shape = layout.native_shape("C", self.platform, self.mm.name, self.M, self.K, self.N)
        itemsize = np.dtype(layout.NUMPY_DTYPES[self.mm.c_dtype]).itemsize
        if int(self.io.C.size) != int(np.prod(shape)) * itemsize or not c.virt_addr:
            raise LayoutMismatch("; ".join(self.findings) or f"io_attr.C.size {self.io.C.size} B is unreadable")
        data = ctypes.string_at(c.virt_addr + c.offset, int(self.io.C.size))
        c_native = np.frombuffer(data, dtype=layout.NUMPY_DTYPES[self.mm.c_dtype]).reshape(shape).copy()
        return CallOutput(c_native=c_native, findings=list(self.findings), notes=list(self.notes))

    def _sync(self, name: str, mode: int) -> None:
        if self.runtime.generation.has_mem_sync:
            self._check("rknn_mem_sync", self.lib.rknn_mem_sync(self.ctx, self.mems[name], mode), name)
