"""Tests of the fake librknnrt itself, through raw ctypes (not the binding).

The binding's own tests trust this library to behave like the documented
runtime; these tests pin the parts the binding relies on: struct sizes,
exported symbols per generation, the version string, exact matmul results in
both layouts, the cache model, error codes and the introspection counters.
"""

from __future__ import annotations

import ctypes
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from layoutscope.backend.rknpu2 import layout
from layoutscope.backend.rknpu2 import rknn_api as api

GENERATIONS = ("1.5", "1.6", "2.0", "2.1", "2.3")
INFO_STRUCT = {"1.5": api.MatmulInfoV15, "1.6": api.MatmulInfoV16, "2.0": api.MatmulInfoV2,
               "2.1": api.MatmulInfoV2, "2.3": api.MatmulInfoV2}
TYPE_INT8_INT32, TYPE_INT8_INT8, TYPE_FP16_FP32, TYPE_FP16_FP16 = 2, 3, 1, 4
TYPE_INT8_FP32, TYPE_INT4_INT16 = 9, 10
MEM_P = ctypes.POINTER(api.TensorMem)


class Fake:
    """The fake library with argtypes declared here, independent of runtime.py."""

    def __init__(self, path, generation):
        self.path, self.generation = path, generation
        self.lib = lib = ctypes.CDLL(str(path))
        self.info_struct = INFO_STRUCT[generation]
        ctx, c_int = api.Context, ctypes.c_int
        sigs = {
            "rknn_matmul_create": (c_int, [ctypes.POINTER(ctx), ctypes.c_void_p, ctypes.POINTER(api.IoAttr)]),
            "rknn_matmul_set_io_mem": (c_int, [ctx, MEM_P, ctypes.POINTER(api.TensorAttr)]),
            "rknn_matmul_set_core_mask": (c_int, [ctx, c_int]),
            "rknn_matmul_run": (c_int, [ctx]),
            "rknn_matmul_destroy": (c_int, [ctx]),
            "rknn_create_mem": (MEM_P, [ctx, ctypes.c_uint32]),
            "rknn_destroy_mem": (c_int, [ctx, MEM_P]),
            "rknn_mem_sync": (c_int, [ctx, MEM_P, c_int]),
            "rknn_matmul_set_quant_params": (c_int, [ctx, ctypes.POINTER(api.QuantParams)]),
            "fake_rknn_live_contexts": (c_int, []),
            "fake_rknn_live_mems": (c_int, []),
            "fake_rknn_live_bytes": (ctypes.c_longlong, []),
            "fake_rknn_reset": (None, []),
            "fake_rknn_call_log": (ctypes.c_char_p, []),
            "fake_rknn_last_core_mask": (c_int, []),
            "fake_rknn_sync_count": (c_int, [c_int]),
            "fake_rknn_fail": (None, [ctypes.c_char_p, c_int]),
            "fake_rknn_sizeof": (ctypes.c_size_t, [ctypes.c_char_p]),
        }
        for name, (restype, argtypes) in sigs.items():
            if api.has_symbol(lib, name):
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = restype, argtypes

    @property
    def has_sync(self) -> bool:
        """True for generations with rknn_mem_sync (1.6+)."""
        return self.generation != "1.5"

    def create(self, M, K, N, mm_type, b_native=False, ac_native=False, b_quant=0, group_size=0):
        """``rknn_matmul_create``: (return code, context, io_attr)."""
        info = self.info_struct(M=M, K=K, N=N, type=mm_type)
        if self.info_struct is api.MatmulInfoV15:
            info.native_layout, info.perf_layout = int(b_native), int(ac_native)
        else:
            info.B_layout, info.AC_layout = int(b_native), int(ac_native)
        if self.info_struct is api.MatmulInfoV2:
            info.B_quant_type, info.group_size = b_quant, group_size
        ctx, io = api.Context(), api.IoAttr()
        rc = self.lib.rknn_matmul_create(ctypes.byref(ctx), ctypes.byref(info), ctypes.byref(io))
        return rc, ctx.value, io

    def mem(self, ctx, size):
        """``rknn_create_mem`` (asserting success)."""
        mem = self.lib.rknn_create_mem(ctx, size)
        assert mem, "rknn_create_mem returned NULL"
        return mem

    def set_quant(self, ctx, name, scales):
        """``rknn_matmul_set_quant_params`` with symmetric scales."""
        arr = (ctypes.c_float * len(scales))(*scales)
        params = api.QuantParams(name=name.encode(), scale=arr, scale_len=len(scales))
        return self.lib.rknn_matmul_set_quant_params(ctx, ctypes.byref(params))

    def call_log(self) -> list[str]:
        """API calls since reset, oldest first."""
        return self.lib.fake_rknn_call_log().decode().split()


def write(mem, data: np.ndarray) -> None:
    """Copy ``data``'s bytes to the start of ``mem``'s CPU mapping."""
    data = np.ascontiguousarray(data)
    assert data.nbytes <= mem.contents.size
    ctypes.memmove(mem.contents.virt_addr, data.ctypes.data, data.nbytes)


def read(mem, dtype) -> np.ndarray:
    """A copy of ``mem``'s CPU mapping as ``dtype``."""
    raw = (ctypes.c_ubyte * mem.contents.size).from_address(mem.contents.virt_addr)
    return np.frombuffer(bytes(raw), dtype=dtype)


@dataclass
class Run:
    """One finished matmul: return codes and the raw C buffer."""

    create_rc: int
    run_rc: int
    io: api.IoAttr
    c: np.ndarray


def matmul(fake: Fake, M, K, N, mm_type, a_bytes, b_bytes, c_dtype, *, b_native=False, ac_native=False,
           sync=True, quant=(), b_quant=0, group_size=0) -> Run:
    """The binding's calling sequence, from create to destroy, on ``fake``."""
    rc, ctx, io = fake.create(M, K, N, mm_type, b_native, ac_native, b_quant, group_size)
    assert rc == 0, f"create returned {rc}"
    for name, scales in quant:
        assert fake.set_quant(ctx, name, scales) == 0
    mems = {x: fake.mem(ctx, getattr(io, x).size) for x in "ABC"}
    write(mems["A"], a_bytes)
    write(mems["B"], b_bytes)
    lib = fake.lib
    if sync and fake.has_sync:
        for x in "AB":
            assert lib.rknn_mem_sync(ctx, mems[x], api.MEM_SYNC_TO_DEVICE) == 0
    for x in "ABC":
        assert lib.rknn_matmul_set_io_mem(ctx, mems[x], ctypes.byref(getattr(io, x))) == 0
    run_rc = lib.rknn_matmul_run(ctx)
    if sync and fake.has_sync:
        assert lib.rknn_mem_sync(ctx, mems["C"], api.MEM_SYNC_FROM_DEVICE) == 0
    c = read(mems["C"], c_dtype)
    for x in "ABC":
        assert lib.rknn_destroy_mem(ctx, mems[x]) == 0
    assert lib.rknn_matmul_destroy(ctx) == 0
    return Run(rc, run_rc, io, c)


@pytest.fixture
def make_fake(fake_rknnrt, monkeypatch):
    """Factory ``(generation="2.3") -> Fake``, reset, on the default platform."""
    monkeypatch.delenv("FAKE_RKNN_PLATFORM", raising=False)

    def make(generation="2.3"):
        fake = Fake(fake_rknnrt(generation), generation)
        fake.lib.fake_rknn_reset()
        return fake

    return make


def rng_int8(rng, shape, lo=-128, hi=127):
    """Uniform int8 values in [lo, hi]."""
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


# -- the library's shape ------------------------------------------------------
@pytest.mark.parametrize("generation", GENERATIONS)
def test_struct_sizes_agree_with_our_ctypes_declarations(make_fake, generation):
    fake = make_fake(generation)
    size = fake.lib.fake_rknn_sizeof
    assert size(b"rknn_tensor_mem") == ctypes.sizeof(api.TensorMem) == 40
    assert size(b"rknn_matmul_tensor_attr") == ctypes.sizeof(api.TensorAttr) == 332
    assert size(b"rknn_matmul_io_attr") == ctypes.sizeof(api.IoAttr) == 996
    assert size(b"rknn_matmul_info") == ctypes.sizeof(INFO_STRUCT[generation])
    assert size(b"rknn_quant_params") == ctypes.sizeof(api.QuantParams) == 288
    assert size(b"rknn_context") == ctypes.sizeof(api.Context)
    assert size(b"no_such_struct") == 0


@pytest.mark.parametrize("generation", GENERATIONS)
def test_exported_symbols_identify_the_generation(make_fake, generation):
    lib = make_fake(generation).lib
    for name in (*api.REQUIRED_SYMBOLS, "rknn_matmul_set_core_mask"):
        assert api.has_symbol(lib, name)
    assert api.has_symbol(lib, "rknn_mem_sync") == (generation != "1.5")
    assert api.has_symbol(lib, "rknn_matmul_set_quant_params") == generation.startswith("2.")
    assert api.has_symbol(lib, "rknn_matmul_create_dyn_shape") == (generation == "2.0")
    assert api.has_symbol(lib, "rknn_matmul_create_dynamic_shape") == (generation in ("2.1", "2.3"))
    expected = {"1.5": "1.5", "1.6": "1.6", "2.0": "2.0", "2.1": "2.1+", "2.3": "2.1+"}[generation]
    assert api.detect_generation(lib).name == expected


@pytest.mark.parametrize("generation,version", [("1.5", "1.5.2"), ("1.6", "1.6.0"), ("2.0", "2.0.0b0"),
                                                ("2.1", "2.1.0"), ("2.3", "2.3.2")])
def test_version_string_is_in_the_file(fake_rknnrt, generation, version):
    data = fake_rknnrt(generation).read_bytes()
    assert f"librknnrt version: {version} (fake layoutscope test runtime)".encode() in data
    assert data.count(b"librknnrt version: ") == 1


@pytest.mark.parametrize("generation", GENERATIONS)
def test_source_compiles_warning_free(fake_rknnrt, tmp_path, generation):
    fake_rknnrt(generation)  # skips without a compiler
    spec = importlib.util.spec_from_file_location("fake_rknnrt_build", Path(__file__).parent / "fake_rknnrt" / "build.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert builder.build(generation, tmp_path, extra_flags=["-Werror"]).is_file()


# -- matmul results -----------------------------------------------------------
@pytest.mark.parametrize("generation", GENERATIONS)
def test_int8_native_matmul_is_the_exact_integer_product(make_fake, generation):
    fake = make_fake(generation)
    rng = np.random.default_rng(1)
    M, K, N = 3, 96, 64
    a, b = rng_int8(rng, (M, K)), rng_int8(rng, (K, N))
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, layout.pack_a(a, "rk3588", "int8"),
                 layout.pack_b(b, "rk3588", "int8"), np.int32, b_native=True, ac_native=True)
    assert run.run_rc == 0
    assert run.io.A.shape == layout.native_shape("A", "rk3588", "int8", M, K, N) == (6, 3, 16)
    assert run.io.B.shape == layout.native_shape("B", "rk3588", "int8", M, K, N) == (2, 3, 32, 32)
    assert run.io.C.shape == layout.native_shape("C", "rk3588", "int8", M, K, N) == (16, 3, 4)
    assert [run.io.A.name, run.io.B.name, run.io.C.name] == [b"A", b"B", b"C"]
    assert (run.io.A.size, run.io.B.size, run.io.C.size) == (M * K, K * N, 4 * M * N)
    assert (run.io.A.type, run.io.B.type, run.io.C.type) == (2, 2, 6)
    c = layout.unpack_c(run.c, "rk3588", "int32", M, N)
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


@pytest.mark.parametrize("generation", ["1.5", "2.3"])
def test_int8_normal_layout_is_the_exact_integer_product(make_fake, generation):
    fake = make_fake(generation)
    rng = np.random.default_rng(2)
    M, K, N = 5, 64, 96
    a, b = rng_int8(rng, (M, K)), rng_int8(rng, (K, N))
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, a, b, np.int32)
    assert (run.io.A.shape, run.io.B.shape, run.io.C.shape) == ((M, K), (K, N), (M, N))
    np.testing.assert_array_equal(run.c.reshape(M, N), a.astype(np.int64) @ b.astype(np.int64))


def test_mixed_layouts_native_b_with_normal_a_and_c(make_fake):
    fake = make_fake("2.3")
    rng = np.random.default_rng(3)
    M, K, N = 2, 64, 32
    a, b = rng_int8(rng, (M, K)), rng_int8(rng, (K, N))
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, a, layout.pack_b(b, "rk3588", "int8"), np.int32, b_native=True)
    np.testing.assert_array_equal(run.c.reshape(M, N), a.astype(np.int64) @ b.astype(np.int64))


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("generation", ["1.6", "2.3"])
def test_int4_low_nibble_first_in_both_layouts(make_fake, generation, native):
    fake = make_fake(generation)
    rng = np.random.default_rng(4)
    M, K, N = 2, 64, 64
    a, b = rng_int8(rng, (M, K), -8, 7), rng_int8(rng, (K, N), -8, 7)
    if native:
        a_bytes, b_bytes = layout.pack_a(a, "rk3588", "int4"), layout.pack_b(b, "rk3588", "int4")
    else:
        a_bytes, b_bytes = layout.pack_int4(a), layout.pack_int4(b)
    run = matmul(fake, M, K, N, TYPE_INT4_INT16, a_bytes, b_bytes, np.int16, b_native=native, ac_native=native)
    assert run.io.A.size == M * K // 2 and run.io.B.size == K * N // 2 and run.io.C.size == 2 * M * N
    if native:
        assert run.io.B.shape == (1, 2, 64, 32) and run.io.C.shape == (8, M, 8)
        c = layout.unpack_c(run.c, "rk3588", "int16", M, N)
    else:
        c = run.c.reshape(M, N)
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


def test_int4_to_int16_saturates(make_fake):
    fake = make_fake("2.3")
    M, K, N = 1, 1024, 64
    a, b = np.full((M, K), -8, np.int8), np.full((K, N), -8, np.int8)  # Σ = 65536 > 32767
    run = matmul(fake, M, K, N, TYPE_INT4_INT16, layout.pack_int4(a), layout.pack_int4(b), np.int16)
    assert (run.c == 32767).all()


def _fp32_k_order(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b with float32 sums taken in k order, the fake's documented accumulation."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        acc += a32[:, k : k + 1] * b32[k]
    return acc


@pytest.mark.parametrize("native", [False, True])
def test_fp16_to_fp32_accumulates_in_float32_in_k_order(make_fake, native):
    fake = make_fake("2.3")
    rng = np.random.default_rng(5)
    M, K, N = 3, 64, 48
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    a_bytes = layout.pack_a(a, "rk3588", "fp16") if native else a
    b_bytes = layout.pack_b(b, "rk3588", "fp16") if native else b
    run = matmul(fake, M, K, N, TYPE_FP16_FP32, a_bytes, b_bytes, np.float32, b_native=native, ac_native=native)
    if native:
        assert run.io.A.shape == (K // 8, M, 8) and run.io.B.shape == (N // 16, K // 32, 16, 32)
        c = layout.unpack_c(run.c, "rk3588", "fp32", M, N)
    else:
        c = run.c.reshape(M, N)
    np.testing.assert_array_equal(c, _fp32_k_order(a, b))


def test_fp16_to_fp16_rounds_to_nearest_even(make_fake):
    fake = make_fake("2.3")
    rng = np.random.default_rng(6)
    M, K, N = 2, 32, 32
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    run = matmul(fake, M, K, N, TYPE_FP16_FP16, a, b, np.float16)
    assert run.io.C.type == 1 and run.io.C.size == 2 * M * N
    np.testing.assert_array_equal(run.c.reshape(M, N), _fp32_k_order(a, b).astype(np.float16))


def test_half_conversions_keep_specials_and_subnormals(make_fake):
    # A selects row 0 of B, so C = B[0] exactly: every value crosses half→float→half.
    fake = make_fake("2.3")
    M, K, N = 1, 32, 16
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 6e-8, -6e-8, 3e-5, 65504, -65504, 1.0, -2.5,
                         np.float16(2.0**-24), np.float16(2.0**-14) - np.float16(2.0**-24), 0.1, 1e-3],
                        dtype=np.float16)
    a = np.zeros((M, K), np.float16)
    a[0, 0] = 1
    b = np.zeros((K, N), np.float16)
    b[0] = specials
    for mm, dtype in ((TYPE_FP16_FP16, np.float16), (TYPE_FP16_FP32, np.float32)):
        c = matmul(fake, M, K, N, mm, a, b, dtype).c
        np.testing.assert_array_equal(c, specials.astype(dtype))


def test_fp16_output_overflows_to_inf_and_rounds_ties_to_even(make_fake):
    fake = make_fake("2.3")
    M, K, N = 1, 32, 16
    a = np.zeros((M, K), np.float16)
    a[0, :2] = 1
    b = np.zeros((K, N), np.float16)
    # 2048 + 1 is a tie between 2048 and 2050 (even mantissa: 2048); 2048 + 3 → 2052.
    b[0, :4] = [2048, 2048, 65504, -65504]
    b[1, :4] = [1, 3, 16, -16]  # 65504 + 16 is halfway to 65536 and 65504 is odd: ties to even → inf
    c = matmul(fake, M, K, N, TYPE_FP16_FP16, a, b, np.float16).c
    np.testing.assert_array_equal(c[:4], np.array([2048, 2052, np.inf, -np.inf], np.float16))


def test_int8_to_int8_uses_scales_rounds_half_away_and_saturates(make_fake):
    fake = make_fake("2.3")
    M, K, N = 1, 32, 32
    a = np.zeros((M, K), np.int8)
    a[0, 0] = 1
    b = np.zeros((K, N), np.int8)
    b[0, :6] = [5, -5, 7, 100, -100, 3]
    # C = round(acc · 1 · 0.5 / 1): 2.5 → 3, -2.5 → -3, 3.5 → 4, 50, -50, 1.5 → 2 with per-layer scale 0.5
    run = matmul(fake, M, K, N, TYPE_INT8_INT8, a, b, np.int8, quant=[("B", [0.5])])
    np.testing.assert_array_equal(run.c[:6], [3, -3, 4, 50, -50, 2])
    # per-channel B scales and a small C scale saturate
    scales = [1.0] * N
    scales[3], scales[4] = 4.0, 4.0
    run = matmul(fake, M, K, N, TYPE_INT8_INT8, a, b, np.int8, quant=[("B", scales), ("C", [0.5])], b_quant=2)
    np.testing.assert_array_equal(run.c[:6], [10, -10, 14, 127, -128, 6])


def test_int8_to_fp32_per_group_scales(make_fake):
    fake = make_fake("2.3")
    rng = np.random.default_rng(7)
    M, K, N, G = 2, 64, 32, 32
    a, b = rng_int8(rng, (M, K)), rng_int8(rng, (K, N))
    sb = rng.uniform(0.01, 0.1, size=(K // G, N)).astype(np.float32)
    run = matmul(fake, M, K, N, TYPE_INT8_FP32, a, b, np.float32, quant=[("A", [0.25]), ("B", sb.ravel())],
                 b_quant=4, group_size=G)
    partials = [a[:, g * G:(g + 1) * G].astype(np.int64) @ b[g * G:(g + 1) * G].astype(np.int64)
                for g in range(K // G)]
    expected = sum(p * sb[g].astype(np.float64) for g, p in enumerate(partials)) * 0.25
    np.testing.assert_array_equal(run.c.reshape(M, N), expected.astype(np.float32))


def test_int8_to_int32_ignores_scales(make_fake):
    fake = make_fake("2.3")
    rng = np.random.default_rng(8)
    M, K, N = 1, 32, 32
    a, b = rng_int8(rng, (M, K)), rng_int8(rng, (K, N))
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, a, b, np.int32, quant=[("A", [0.5]), ("B", [3.0])])
    np.testing.assert_array_equal(run.c.reshape(M, N), a.astype(np.int64) @ b.astype(np.int64))


# -- the cache model ----------------------------------------------------------
def test_missing_sync_reads_stale_zeros(make_fake):
    fake = make_fake("2.3")
    M, K, N = 1, 32, 32
    a, b = np.ones((M, K), np.int8), np.ones((K, N), np.int8)
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, a, b, np.int32, sync=False)
    assert run.run_rc == 0 and (run.c == 0).all()
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, a, b, np.int32, sync=True)
    assert (run.c == K).all()
    assert fake.lib.fake_rknn_sync_count(api.MEM_SYNC_TO_DEVICE) == 2
    assert fake.lib.fake_rknn_sync_count(api.MEM_SYNC_FROM_DEVICE) == 1
    assert fake.lib.fake_rknn_sync_count(0) == 3


def test_runtime_1_5_has_no_sync_and_a_coherent_mapping(make_fake):
    fake = make_fake("1.5")
    M, K, N = 1, 32, 32
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, np.ones((M, K), np.int8), np.ones((K, N), np.int8), np.int32)
    assert (run.c == K).all()


def test_bidirectional_sync_keeps_device_results_the_cpu_did_not_touch(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    M, K, N = 1, 32, 32
    rc, ctx, io = fake.create(M, K, N, TYPE_INT8_INT32)
    mems = {x: fake.mem(ctx, getattr(io, x).size) for x in "ABC"}
    write(mems["A"], np.ones((M, K), np.int8))
    write(mems["B"], np.ones((K, N), np.int8))
    for x in "ABC":
        assert lib.rknn_mem_sync(ctx, mems[x], 3) == 0
        assert lib.rknn_matmul_set_io_mem(ctx, mems[x], ctypes.byref(getattr(io, x))) == 0
    assert lib.rknn_matmul_run(ctx) == 0
    assert lib.rknn_mem_sync(ctx, mems["C"], 3) == 0
    assert (read(mems["C"], np.int32) == K).all()
    for mode in (0, 4):
        assert lib.rknn_mem_sync(ctx, mems["C"], mode) == -5
    for x in "ABC":
        assert lib.rknn_destroy_mem(ctx, mems[x]) == 0
    assert lib.rknn_matmul_destroy(ctx) == 0


# -- errors the binding must handle --------------------------------------------
def test_multi_core_mask_is_rejected_and_single_core_accepted(make_fake, capfd):
    fake = make_fake("2.3")
    lib = fake.lib
    rc, ctx, _ = fake.create(1, 32, 32, TYPE_INT8_INT32)
    assert lib.fake_rknn_last_core_mask() == -1
    for mask in (0, 1, 2, 4):
        assert lib.rknn_matmul_set_core_mask(ctx, mask) == 0
        assert lib.fake_rknn_last_core_mask() == mask
    capfd.readouterr()
    for mask in (3, 7, 0xFFFF):
        assert lib.rknn_matmul_set_core_mask(ctx, mask) == -1
        assert lib.fake_rknn_last_core_mask() == 0  # the single-core auto fallback
    err = capfd.readouterr().err
    assert "E RKNN: Not support core mask: 3, fallback to single core auto mode" in err
    assert lib.rknn_matmul_destroy(ctx) == 0


@pytest.mark.parametrize("generation,mm_type,ok", [
    ("1.5", TYPE_INT4_INT16, False), ("1.5", TYPE_INT8_INT8, False), ("1.5", TYPE_FP16_FP32, True),
    ("1.6", TYPE_INT4_INT16, True), ("1.6", TYPE_FP16_FP16, False),
    ("2.0", TYPE_INT8_INT8, True), ("2.0", TYPE_INT8_FP32, False),
    ("2.1", TYPE_INT8_FP32, True), ("2.3", 5, False), ("2.3", 11, False), ("2.3", 99, False), ("2.3", -1, False),
])
def test_matmul_types_per_generation(make_fake, capfd, generation, mm_type, ok):
    fake = make_fake(generation)
    rc, ctx, _ = fake.create(1, 64, 64, mm_type)
    assert fake.lib.fake_rknn_live_contexts() == int(ok)
    if ok:
        assert rc == 0 and ctx != 0
        assert fake.lib.rknn_matmul_destroy(ctx) == 0
    else:
        assert rc == -5 and ctx == 0
        assert "E RKNN: unsupported matmul dtype" in capfd.readouterr().err


@pytest.mark.parametrize("M,K,N,mm_type,message", [
    (0, 32, 32, TYPE_INT8_INT32, "M"),
    (1, 48, 32, TYPE_INT8_INT32, "multiple of 32"),
    (1, 32, 16, TYPE_INT8_INT32, "multiple of 32"),
    (1, 32, 16, TYPE_FP16_FP32, None),
    (1, 32, 32, TYPE_INT4_INT16, "multiple of 64"),
    (1, 8224, 32, TYPE_INT8_INT32, "K-segmented B (K > 8192) is not modelled"),
    (1, 8192, 32, TYPE_INT8_INT32, None),
    (1, 32, 4128, TYPE_INT8_INT32, "<= 4096"),
    (1, 32, 8192, TYPE_INT4_INT16, None),
])
def test_shape_validation_on_rk3588(make_fake, capfd, M, K, N, mm_type, message):
    fake = make_fake("2.3")
    rc, ctx, _ = fake.create(M, K, N, mm_type)
    if message is None:
        assert rc == 0
        assert fake.lib.rknn_matmul_destroy(ctx) == 0
    else:
        assert rc == -5
        assert message in capfd.readouterr().err


def test_rk3566_reports_its_own_tiles(make_fake, monkeypatch):
    fake = make_fake("2.3")
    monkeypatch.setenv("FAKE_RKNN_PLATFORM", "rk3566")
    rc, ctx, io = fake.create(2, 64, 32, TYPE_INT8_INT32, b_native=True, ac_native=True)
    assert rc == 0
    assert (io.A.shape, io.B.shape, io.C.shape) == ((8, 2, 8), (2, 2, 16, 32), (8, 2, 4))
    assert io.B.shape != layout.native_shape("B", "rk3588", "int8", 2, 64, 32)  # the mismatch tests provoke
    assert fake.lib.rknn_matmul_destroy(ctx) == 0
    assert fake.create(1, 64, 64, TYPE_INT4_INT16)[0] == -5  # no int4
    assert fake.create(1, 10272, 32, TYPE_INT8_INT32)[0] == -5  # K ≤ 10240
    monkeypatch.setenv("FAKE_RKNN_PLATFORM", "rk9999")
    assert fake.create(1, 32, 32, TYPE_INT8_INT32)[0] == -5


def test_rk3566_native_matmul(make_fake, monkeypatch):
    fake = make_fake("2.3")
    monkeypatch.setenv("FAKE_RKNN_PLATFORM", "rk3566")
    rng = np.random.default_rng(9)
    M, K, N = 3, 64, 48
    a, b = rng_int8(rng, (M, K)), rng_int8(rng, (K, N))
    run = matmul(fake, M, K, N, TYPE_INT8_INT32, layout.pack_a(a, "rk3566", "int8"),
                 layout.pack_b(b, "rk3566", "int8"), np.int32, b_native=True, ac_native=True)
    c = layout.unpack_c(run.c, "rk3566", "int32", M, N)
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


def test_quant_type_rules(make_fake, capfd):
    fake = make_fake("2.3")
    rc, _, _ = fake.create(1, 64, 32, TYPE_INT8_FP32, b_quant=2)
    assert rc == -5
    assert ("B_quant_type = RKNN_QUANT_TYPE_PER_CHANNEL_SYM, only supported matmul dtype : "
            "RKNN_INT8_MM_INT8_TO_INT8 and RKNN_INT8_MM_INT8_TO_INT32") in capfd.readouterr().err
    assert fake.create(1, 64, 32, TYPE_INT8_INT32, b_quant=4, group_size=32)[0] == -5  # per-group: type 9 only
    assert fake.create(1, 64, 32, TYPE_INT8_FP32, b_quant=4, group_size=48)[0] == -5  # must divide K
    assert fake.create(1, 64, 32, TYPE_INT8_FP32, b_quant=4, group_size=0)[0] == -5
    assert make_fake("2.0").create(1, 64, 32, TYPE_INT8_INT32, b_quant=4, group_size=32)[0] == -5

    fake = make_fake("2.3")
    rc, ctx, _ = fake.create(1, 64, 32, TYPE_INT8_INT8, b_quant=2)
    assert rc == 0
    assert fake.set_quant(ctx, "B", [1.0]) == -5  # per-channel needs N scales
    assert fake.set_quant(ctx, "B", [1.0] * 32) == 0
    assert fake.set_quant(ctx, "A", [1.0, 2.0]) == -5
    assert "A and C only support per layer" in capfd.readouterr().err
    assert fake.set_quant(ctx, "X", [1.0]) == -5
    zp = (ctypes.c_int32 * 1)(3)
    params = api.QuantParams(name=b"A", scale=(ctypes.c_float * 1)(1.0), scale_len=1, zp=zp, zp_len=1)
    assert fake.lib.rknn_matmul_set_quant_params(ctx, ctypes.byref(params)) == -5  # symmetric only
    zp[0] = 0
    assert fake.lib.rknn_matmul_set_quant_params(ctx, ctypes.byref(params)) == 0
    assert fake.lib.rknn_matmul_destroy(ctx) == 0


def test_io_mem_and_run_errors(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    rc, ctx, io = fake.create(2, 32, 32, TYPE_INT8_INT32)
    small = fake.mem(ctx, 8)
    assert lib.rknn_matmul_set_io_mem(ctx, small, ctypes.byref(io.A)) == -8
    assert lib.rknn_matmul_set_io_mem(ctx, small, ctypes.byref(io.C)) == -9
    assert lib.rknn_matmul_run(ctx) == -8  # nothing bound
    a = fake.mem(ctx, io.A.size)
    b = fake.mem(ctx, io.B.size)
    assert lib.rknn_matmul_set_io_mem(ctx, a, ctypes.byref(io.A)) == 0
    assert lib.rknn_matmul_set_io_mem(ctx, b, ctypes.byref(io.B)) == 0
    assert lib.rknn_matmul_run(ctx) == -9  # C missing
    stranger = api.TensorMem(size=4096)
    assert lib.rknn_matmul_set_io_mem(ctx, ctypes.byref(stranger), ctypes.byref(io.A)) == -5
    # A destroyed mem is unbound: run does not touch freed memory.
    assert lib.rknn_destroy_mem(ctx, b) == 0
    c = fake.mem(ctx, io.C.size)
    assert lib.rknn_matmul_set_io_mem(ctx, c, ctypes.byref(io.C)) == 0
    assert lib.rknn_matmul_run(ctx) == -8
    assert lib.rknn_destroy_mem(ctx, b) == -5  # already freed
    for m in (small, a, c):
        assert lib.rknn_destroy_mem(ctx, m) == 0
    assert lib.rknn_matmul_destroy(ctx) == 0


def test_contexts_are_opaque_wide_handles(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    rc, ctx, _ = fake.create(1, 32, 32, TYPE_INT8_INT32)
    assert rc == 0 and ctx != 0
    if ctypes.sizeof(api.Context) == 8:
        assert ctx > 0xFFFFFFFF  # a binding that passes it as a C int is caught
        assert lib.rknn_matmul_run(ctx & 0xFFFFFFFF) == -7
    assert lib.rknn_matmul_destroy(ctx) == 0
    assert lib.rknn_matmul_destroy(ctx) == -7
    assert lib.rknn_matmul_run(ctx) == -7
    assert lib.rknn_matmul_set_core_mask(ctx, 1) == -7
    assert not lib.rknn_create_mem(ctx, 64)
    assert fake.create(1, 32, 32, TYPE_INT8_INT32)[1] != ctx  # handles are never reused


def test_null_pointers_are_rejected(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    io = api.IoAttr()
    info = api.MatmulInfoV2(M=1, K=32, N=32, type=2)
    assert lib.rknn_matmul_create(None, ctypes.byref(info), ctypes.byref(io)) == -5
    ctx = api.Context()
    assert lib.rknn_matmul_create(ctypes.byref(ctx), None, ctypes.byref(io)) == -5
    assert lib.rknn_matmul_create(ctypes.byref(ctx), ctypes.byref(info), None) == -5
    assert lib.rknn_matmul_create(ctypes.byref(ctx), ctypes.byref(info), ctypes.byref(io)) == 0
    assert lib.rknn_matmul_set_io_mem(ctx, None, ctypes.byref(io.A)) == -5
    assert lib.rknn_matmul_set_quant_params(ctx, None) == -5
    assert lib.rknn_destroy_mem(ctx, None) == -5
    assert not lib.rknn_create_mem(ctx, 0)
    assert lib.rknn_matmul_destroy(ctx) == 0


def test_injected_failures_fire_once(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    lib.fake_rknn_fail(b"rknn_matmul_create", -3)
    assert fake.create(1, 32, 32, TYPE_INT8_INT32)[0] == -3
    assert lib.fake_rknn_live_contexts() == 0
    rc, ctx, io = fake.create(1, 32, 32, TYPE_INT8_INT32)
    assert rc == 0
    lib.fake_rknn_fail(b"rknn_create_mem", -4)
    assert not lib.rknn_create_mem(ctx, 64)
    mem = fake.mem(ctx, 64)
    lib.fake_rknn_fail(b"rknn_matmul_run", -2)
    lib.fake_rknn_fail(b"rknn_matmul_run", -9)
    assert lib.rknn_matmul_run(ctx) == -2  # first queued first
    assert lib.rknn_matmul_run(ctx) == -9
    assert lib.rknn_matmul_run(ctx) == -8  # really runs: nothing bound
    lib.fake_rknn_fail(b"rknn_mem_sync", -1)
    lib.fake_rknn_fail(b"rknn_destroy_mem", -5)
    lib.fake_rknn_fail(b"", 0)  # clears every pending failure
    assert lib.rknn_mem_sync(ctx, mem, 1) == 0
    assert lib.rknn_destroy_mem(ctx, mem) == 0
    lib.fake_rknn_fail(b"rknn_matmul_destroy", -1)
    assert lib.rknn_matmul_destroy(ctx) == -1
    assert lib.fake_rknn_live_contexts() == 1  # the injected failure did not destroy it
    assert lib.rknn_matmul_destroy(ctx) == 0


def test_leak_counters_follow_create_and_destroy(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    rc, ctx, io = fake.create(2, 64, 32, TYPE_INT8_INT32)
    mems = [fake.mem(ctx, getattr(io, x).size) for x in "ABC"]
    assert lib.fake_rknn_live_contexts() == 1
    assert lib.fake_rknn_live_mems() == 3
    assert lib.fake_rknn_live_bytes() == io.A.size + io.B.size + io.C.size == 128 + 2048 + 256
    assert mems[0].contents.fd == -1 and mems[0].contents.flags == 1 and mems[0].contents.size == 128
    # Destroying the context first leaves its mems live: that is how leaks show.
    assert lib.rknn_matmul_destroy(ctx) == 0
    assert lib.fake_rknn_live_contexts() == 0 and lib.fake_rknn_live_mems() == 3
    rc, other, _ = fake.create(1, 32, 32, TYPE_INT8_INT32)
    assert lib.rknn_destroy_mem(other, mems[0]) == -5  # wrong context
    for m in mems:
        assert lib.rknn_destroy_mem(ctx, m) == 0  # the creating handle still frees it
    assert lib.fake_rknn_live_mems() == 0 and lib.fake_rknn_live_bytes() == 0
    assert lib.rknn_matmul_destroy(other) == 0
    assert lib.fake_rknn_live_contexts() == 0


def test_reset_frees_everything_and_clears_the_log(make_fake):
    fake = make_fake("2.3")
    lib = fake.lib
    rc, ctx, io = fake.create(1, 32, 32, TYPE_INT8_INT32)
    fake.mem(ctx, 64)
    lib.fake_rknn_fail(b"rknn_matmul_run", -2)
    lib.fake_rknn_reset()
    assert (lib.fake_rknn_live_contexts(), lib.fake_rknn_live_mems(), lib.fake_rknn_live_bytes()) == (0, 0, 0)
    assert lib.fake_rknn_call_log() == b""
    assert lib.rknn_matmul_run(ctx) == -7  # the old handle died with the reset, not the injected -2


def test_call_log_names_each_api_call_in_order(make_fake):
    fake = make_fake("2.3")
    M, K, N = 1, 32, 32
    matmul(fake, M, K, N, TYPE_INT8_INT32, np.ones((M, K), np.int8), np.ones((K, N), np.int8), np.int32)
    assert fake.call_log() == (
        ["rknn_matmul_create"] + ["rknn_create_mem"] * 3 + ["rknn_mem_sync"] * 2 + ["rknn_matmul_set_io_mem"] * 3
        + ["rknn_matmul_run", "rknn_mem_sync"] + ["rknn_destroy_mem"] * 3 + ["rknn_matmul_destroy"]
    )


def test_call_log_keeps_the_newest_64_kib(make_fake):
    fake = make_fake("2.3")
    for _ in range(5000):  # 5000 × 16 bytes = 80 KB of "rknn_matmul_run\n"
        fake.lib.rknn_matmul_run(0)
    fake.lib.rknn_matmul_destroy(0)
    log = fake.lib.fake_rknn_call_log()
    assert len(log) <= 64 * 1024
    lines = log.decode().split("\n")
    assert lines[-1] == "" and lines[-2] == "rknn_matmul_destroy"
    assert set(lines[:-2]) == {"rknn_matmul_run"}


def test_info_struct_of_1_5_uses_native_and_perf_layout_fields(make_fake):
    fake = make_fake("1.5")
    rc, ctx, io = fake.create(2, 64, 32, TYPE_INT8_INT32, b_native=True, ac_native=False)
    assert rc == 0
    assert (io.A.shape, io.B.shape, io.C.shape) == ((2, 64), (1, 2, 32, 32), (2, 32))
    assert fake.lib.rknn_matmul_destroy(ctx) == 0
