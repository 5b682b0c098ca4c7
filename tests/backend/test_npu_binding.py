"""The librknnrt binding (``npu``) against a fake librknnrt compiled from C by the test suite.

The fake implements the documented contract (struct layouts, native layouts,
exact integer math, a device copy that only ``rknn_mem_sync`` updates), so
these tests exercise the binding's declarations, call order, error paths and
resource release off the board.
"""

from __future__ import annotations

import ctypes
import tracemalloc

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import BackendUnavailable, available_backends, get_backend, npu_backend
from layoutscope.backend.rknpu2 import rknn_api
from layoutscope.backend.rknpu2.platforms import get_platform
from layoutscope.backend.rknpu2.rknn_api import RknnError
from layoutscope.backend.rknpu2.runtime import ENV_VAR, Runtime
from layoutscope.samples import TINY_LLAMA, path

GENERATION_OF = {"1.5": "1.5", "1.6": "1.6", "2.0": "2.0", "2.1": "2.1+", "2.3": "2.1+"}
MM_BY_GENERATION = {
    "1.5": ["int8", "fp16"],
    "1.6": ["int8", "fp16", "int4"],
    "2.0": ["int8", "fp16", "int4", "int8-int8", "fp16-fp16"],
    "2.3": ["int8", "fp16", "int4", "int8-int8", "fp16-fp16", "int8-fp32"],
}


class Fake:
    """The fake's introspection functions on a loaded library."""

    def __init__(self, lib_path):
        self.path = str(lib_path)
        self.lib = ctypes.CDLL(self.path)
        self.lib.fake_rknn_call_log.restype = ctypes.c_char_p
        self.lib.fake_rknn_live_bytes.restype = ctypes.c_longlong
        self.lib.fake_rknn_sizeof.restype = ctypes.c_size_t
        self.lib.fake_rknn_fail.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.lib.fake_rknn_reset()

    def calls(self) -> list[str]:
        return self.lib.fake_rknn_call_log().decode().split()

    def live(self) -> tuple[int, int, int]:
        return (self.lib.fake_rknn_live_contexts(), self.lib.fake_rknn_live_mems(),
                self.lib.fake_rknn_live_bytes())

    def fail(self, function: str, code: int) -> None:
        self.lib.fake_rknn_fail(function.encode(), code)


@pytest.fixture
def fake(fake_rknnrt, monkeypatch):
    """The 2.3 fake, installed through LAYOUTSCOPE_RKNNRT and reset."""
    lib_path = fake_rknnrt("2.3")
    monkeypatch.setenv(ENV_VAR, str(lib_path))
    monkeypatch.delenv("FAKE_RKNN_PLATFORM", raising=False)
    return Fake(lib_path)


@pytest.fixture(scope="module")
def tiny():
    with layoutscope.open(path(TINY_LLAMA)) as model:
        yield model


def activations(model, rows=5):
    return model.tensor("token_embd.weight").dequantize(slice(10, 10 + rows))


# -- declarations and generations ------------------------------------------------
@pytest.mark.parametrize("generation", sorted(GENERATION_OF))
def test_struct_layouts_match_the_c_library(fake_rknnrt, generation):
    lib = Fake(fake_rknnrt(generation)).lib
    runtime = Runtime(str(fake_rknnrt(generation)))
    assert runtime.generation.name == GENERATION_OF[generation]
    ours = {"rknn_tensor_mem": rknn_api.TensorMem, "rknn_matmul_tensor_attr": rknn_api.TensorAttr,
            "rknn_matmul_io_attr": rknn_api.IoAttr, "rknn_quant_params": rknn_api.QuantParams,
            "rknn_matmul_info": runtime.generation.info_struct, "rknn_context": rknn_api.Context}
    for name, struct in ours.items():
        if name == "rknn_quant_params" and not runtime.generation.has_quant_params:
            continue
        assert ctypes.sizeof(struct) == lib.fake_rknn_sizeof(name.encode()), name
    assert ctypes.sizeof(rknn_api.TensorAttr) == 332 and ctypes.sizeof(rknn_api.IoAttr) == 996
    assert ctypes.sizeof(rknn_api.MatmulInfoV2) == 64 and rknn_api.MatmulInfoV2.group_size.offset == 28


def test_version_and_description_come_from_the_library(fake_rknnrt):
    runtime = Runtime(str(fake_rknnrt("2.3")))
    assert runtime.version.startswith("2.3.2")
    assert "API generation 2.1+" in runtime.describe() and str(fake_rknnrt("2.3")) in runtime.describe()


# -- results ---------------------------------------------------------------------
@pytest.mark.parametrize("generation", sorted(MM_BY_GENERATION))
def test_npu_on_the_fake_computes_what_npu_sim_predicts(fake_rknnrt, monkeypatch, tiny, generation):
    monkeypatch.setenv(ENV_VAR, str(fake_rknnrt(generation)))
    x = activations(tiny)
    for mm in MM_BY_GENERATION[generation]:
        for tensor in ("blk.0.attn_q.weight", "output.weight"):  # N = 1000 is padded to the tile
            w = tiny.tensor(tensor)
            quant = "per-group:32" if mm == "int8-fp32" else "per-channel"
            npu = get_backend("npu", mm=mm, weight_quant=quant).matmul(w, x)
            sim = get_backend("npu-sim", mm=mm, weight_quant=quant).matmul(w, x)
            if sim.raw is not None:  # integer C: bit for bit
                assert np.array_equal(npu.raw, sim.raw), (mm, tensor)
                assert np.array_equal(npu.y, sim.y), (mm, tensor)
            else:  # fp16 accumulation order and float rescaling differ in the last bits
                assert np.allclose(npu.y, sim.y, rtol=1e-3, atol=1e-3), (mm, tensor)
            assert npu.details["findings"] == [] and "librknnrt" in npu.details["runtime"]


def test_oversized_matmuls_are_split_into_calls_the_runtime_accepts(fake, tmp_path):
    from layoutscope.samples.ggufwrite import GGUFBuilder

    rng = np.random.default_rng(3)
    b = GGUFBuilder().add("general.architecture", 8, "llama")
    b.add_tensor("tall.weight", (8256, 32), 0, rng.standard_normal((32, 8256)).astype(np.float32).tobytes())
    b.add_tensor("wide.weight", (32, 4128), 0, rng.standard_normal((4128, 32)).astype(np.float32).tobytes())
    b.write(tmp_path / "big.gguf")
    with layoutscope.open(tmp_path / "big.gguf") as model:
        for name in ("tall.weight", "wide.weight"):
            w = model.tensor(name)
            x = rng.standard_normal((2, w.ne[0])).astype(np.float32)
            npu = get_backend("npu").matmul(w, x)
            assert npu.details["calls"] == 2
            assert np.array_equal(npu.raw, get_backend("npu-sim").matmul(w, x).raw)
    assert fake.live() == (0, 0, 0)


# -- call order, cores, sync ---------------------------------------------------------
def test_call_order_syncs_around_the_run_and_frees_everything(fake, tiny):
    get_backend("npu", core=1).matmul(tiny.tensor("blk.0.attn_k.weight"), activations(tiny))
    calls = fake.calls()
    assert calls[0] == "rknn_matmul_create" and calls[-1] == "rknn_matmul_destroy"
    assert calls[1] == "rknn_matmul_set_core_mask" and fake.lib.fake_rknn_last_core_mask() == rknn_api.CORE_1
    run = calls.index("rknn_matmul_run")
    assert calls[:run].count("rknn_create_mem") == 3 and calls[:run].count("rknn_matmul_set_io_mem") == 3
    first_io = calls.index("rknn_matmul_set_io_mem")
    assert calls[:first_io].count("rknn_mem_sync") == 2  # A and B flushed before they are bound
    assert calls[run + 1] == "rknn_mem_sync"  # C invalidated before it is read
    assert calls[run:].count("rknn_destroy_mem") == 3
    assert fake.lib.fake_rknn_sync_count(rknn_api.MEM_SYNC_TO_DEVICE) == 2
    assert fake.lib.fake_rknn_sync_count(rknn_api.MEM_SYNC_FROM_DEVICE) == 1
    assert fake.live() == (0, 0, 0)


@pytest.mark.parametrize("core,mask", [(0, 1), (1, 2), (2, 4)])
def test_only_single_core_masks_are_used(fake, tiny, core, mask):
    get_backend("npu", core=core).matmul(tiny.tensor("blk.0.attn_k.weight"), activations(tiny, 1))
    assert fake.lib.fake_rknn_last_core_mask() == mask


def test_multi_core_is_refused_before_the_runtime_sees_it(fake):
    with pytest.raises(ValueError, match="multi-core"):
        get_backend("npu", core=3)


def test_quant_params_reach_the_runtime_for_int8_output(fake, tiny):
    get_backend("npu", mm="int8-int8", weight_quant="per-tensor").matmul(tiny.tensor("blk.0.attn_k.weight"),
                                                                          activations(tiny))
    assert fake.calls().count("rknn_matmul_set_quant_params") == 3  # A, B and C


# -- errors and release ------------------------------------------------------------
FAILURES = [
    ("rknn_matmul_create", -5, "RKNN_ERR_PARAM_INVALID"),
    ("rknn_matmul_set_core_mask", -1, "RKNN_ERR_FAIL"),
    ("rknn_create_mem", 0, "RKNN_ERR_MALLOC_FAIL"),
    ("rknn_mem_sync", -1, "RKNN_ERR_FAIL"),
    ("rknn_matmul_set_io_mem", -8, "RKNN_ERR_INPUT_INVALID"),
    ("rknn_matmul_run", -2, "RKNN_ERR_TIMEOUT"),
    ("rknn_matmul_set_quant_params", -5, "RKNN_ERR_PARAM_INVALID"),
]


@pytest.mark.parametrize("function,code,name", FAILURES)
def test_every_failure_is_named_and_releases_everything(fake, tiny, function, code, name):
    backend = get_backend("npu", mm="int8-int8", weight_quant="per-tensor")
    fake.fail(function, code)
    with pytest.raises(RknnError) as info:
        backend.matmul(tiny.tensor("blk.0.attn_k.weight"), activations(tiny))
    message = str(info.value)
    assert function in message and name in message and "\n" not in message
    assert fake.live() == (0, 0, 0)


def test_failures_while_freeing_are_reported(fake, tiny):
    fake.fail("rknn_matmul_destroy", -7)
    with pytest.raises(RknnError, match="rknn_matmul_destroy.*RKNN_ERR_CTX_INVALID"):
        get_backend("npu").matmul(tiny.tensor("blk.0.attn_k.weight"), activations(tiny, 1))
    assert fake.lib.fake_rknn_live_mems() == 0


def test_a_thousand_calls_leak_no_handles_and_no_memory(fake):
    runtime = Runtime()
    p = get_platform("rk3588")
    a = np.ones((1, 32), dtype=np.int8)
    b = np.ones((32, 32), dtype=np.int8)
    from layoutscope.backend.rknpu2 import layout

    a_native, b_native = layout.pack_a(a, p, "int8"), layout.pack_b(b, p, "int8")

    def one_call():
        with runtime.call(p, "int8", 1, 32, 32) as matmul:
            return matmul.run(a_native, b_native).c_native

    assert (layout.unpack_c(one_call(), p, "int32", 1, 32) == 32).all()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        one_call()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert fake.live() == (0, 0, 0)
    assert fake.calls()[-1] == "rknn_matmul_destroy"  # the log keeps only its last 64 KiB
    assert grown < 256 * 1024, f"Python-side memory grew by {grown} B over 1000 calls"


# -- findings and availability ------------------------------------------------------
def test_io_attr_dims_that_disagree_with_our_table_are_a_finding(fake, tiny, monkeypatch):
    monkeypatch.setenv("FAKE_RKNN_PLATFORM", "rk3566")  # the runtime tiles int8 B as N/16
    w, x = tiny.tensor("blk.0.attn_k.weight"), activations(tiny)  # K = 256, N = 128
    result = get_backend("npu").matmul(w, x)
    assert any("io_attr.B" in f and "(8, 8, 16, 32)" in f and "(4, 8, 32, 32)" in f
               for f in result.details["findings"])
    # Packed to our table but read with the runtime's: the wrong result the finding warns of.
    assert not np.array_equal(result.raw, get_backend("npu-sim").matmul(w, x).raw)
    assert fake.live() == (0, 0, 0)


def test_unavailable_runtime_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.so"))
    with pytest.raises(BackendUnavailable, match="missing.so: no such file"):
        get_backend("npu")
    backend, notice = npu_backend()
    assert backend.name == "npu-sim" and "NPU is unavailable" in notice
    table = {name: (ok, reason) for name, ok, reason in available_backends()}
    assert table["npu"][0] is False and ENV_VAR in table["npu"][1]


def test_a_library_without_the_matmul_api_is_rejected(monkeypatch):
    libc = ctypes.util.find_library("c")
    monkeypatch.setenv(ENV_VAR, "/bin/true")  # a file, but not a shared library
    with pytest.raises(BackendUnavailable, match="cannot load"):
        get_backend("npu")
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(BackendUnavailable, match="no matmul API"):
        get_backend("npu", library=libc)


def test_types_missing_from_an_old_runtime_are_unavailable(fake_rknnrt, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(fake_rknnrt("1.5")))
    with pytest.raises(BackendUnavailable, match="RKNN_INT4_MM_INT4_TO_INT16"):
        get_backend("npu", mm="int4")


def test_the_first_failure_is_reported_even_when_freeing_fails_too(fake, tiny):
    fake.fail("rknn_matmul_run", -2)
    fake.fail("rknn_matmul_destroy", -7)
    with pytest.raises(RknnError, match="rknn_matmul_run.*RKNN_ERR_TIMEOUT"):
        get_backend("npu").matmul(tiny.tensor("blk.0.attn_k.weight"), activations(tiny, 1))
    assert fake.lib.fake_rknn_live_mems() == 0


def test_a_scan_on_the_npu_reports_layout_findings(fake, tiny, monkeypatch):
    from layoutscope.analyses.scan import ScanOptions, Scanner

    monkeypatch.setenv("FAKE_RKNN_PLATFORM", "rk3566")
    report = Scanner(tiny, ScanOptions(backend="npu", filter=r"blk\.0\.attn_k"), jobs=2).run()
    assert report.backend == "npu" and len(report.rows) == 1
    assert any(n.startswith("FINDING: io_attr.B") for n in report.notices)
    assert any("--jobs 1 on the NPU" in n for n in report.notices)
    assert fake.live() == (0, 0, 0)
