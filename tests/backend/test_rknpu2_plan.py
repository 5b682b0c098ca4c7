"""Call plans: matmuls beyond a platform's K or N limit are split, and the split is exact."""

from __future__ import annotations

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import get_backend
from layoutscope.backend.rknpu2 import requantize
from layoutscope.backend.rknpu2.plan import plan_matmul
from layoutscope.backend.rknpu2.platforms import PLATFORMS, get_platform
from layoutscope.samples.ggufwrite import GGUFBuilder

F32 = 0


def covers_once(plan) -> bool:
    """True when the calls are every (K segment, N block) pair once, and both partition their axis."""
    ks = sorted({(c.k0, c.k1) for c in plan.calls})
    ns = sorted({(c.n0, c.n1) for c in plan.calls})
    chained = all(a[1] == b[0] for seq in (ks, ns) for a, b in zip(seq, seq[1:]))
    pairs = sorted((c.k0, c.n0) for c in plan.calls)
    return (chained and ks[0][0] == 0 and ks[-1][1] == plan.K and ns[0][0] == 0 and ns[-1][1] == plan.N
            and pairs == sorted((k0, n0) for k0, _ in ks for n0, _ in ns))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
@pytest.mark.parametrize("K,N", [(256, 1000), (8192, 4096), (8224, 4128), (20480, 11008), (11008, 32000)])
def test_calls_tile_the_matmul_exactly_once_within_the_limits(name, K, N):
    p = get_platform(name)
    for mm in p.matmul_types:
        plan = plan_matmul(p, mm, 3, K, N)
        assert covers_once(plan)
        d = p.matmul_type(mm).b_dtype
        limit = p.k_segment or p.k_max
        assert all(c.n <= p.n_max[d] for c in plan.calls)
        assert limit is None or all(c.k <= limit for c in plan.calls)
        # Segment edges sit on whole tiles: no padding inside the matrix, only at its end.
        assert all(c.k0 % p.b_tile[d][1] == 0 and c.n0 % p.b_tile[d][0] == 0 for c in plan.calls)


def test_small_matmuls_are_one_call_and_splits_are_explained():
    rk3588 = get_platform("rk3588")
    assert len(plan_matmul(rk3588, "int8", 8, 4096, 4096).calls) == 1
    plan = plan_matmul(rk3588, "int8", 8, 11008, 4096)
    assert plan.k_splits == 2 and plan.n_splits == 1 and "K = 11008 > 8192" in plan.notes[0]
    plan = plan_matmul(rk3588, "int8", 8, 4096, 32000)
    assert plan.n_splits == 8 and "N = 32000 > 4096" in plan.notes[0]
    assert plan_matmul(rk3588, "int4", 8, 4096, 8192).n_splits == 1  # int4 B allows N ≤ 8192
    assert plan_matmul(get_platform("rk3576"), "int8", 1, 8192, 64).k_splits == 2
    assert plan_matmul(get_platform("rk3566"), "int8", 1, 10240, 64).k_splits == 1


def test_per_group_segments_hold_whole_groups():
    plan = plan_matmul(get_platform("rk3588"), "int8-fp32", 1, 9000, 64, group=96)
    assert all(c.k0 % 96 == 0 for c in plan.calls)


@pytest.fixture(scope="module")
def oversized(tmp_path_factory):
    """F32 weights past RK3588's limits: K = 8256 (> 8192) and N = 4160 (> 4096)."""
    rng = np.random.default_rng(4)
    b = GGUFBuilder().add("general.architecture", 8, "llama")
    tall = rng.standard_normal((64, 8256)).astype(np.float32)
    wide = rng.standard_normal((4160, 64)).astype(np.float32)
    b.add_tensor("tall.weight", (8256, 64), F32, tall.tobytes())
    b.add_tensor("wide.weight", (64, 4160), F32, wide.tobytes())
    path = tmp_path_factory.mktemp("oversized") / "oversized.gguf"
    b.write(path)
    with layoutscope.open(path) as model:
        yield model


@pytest.mark.parametrize("tensor", ["tall.weight", "wide.weight"])
def test_split_int8_matmul_is_still_the_exact_integer_product(oversized, tensor):
    w = oversized.tensor(tensor)
    x = np.random.default_rng(1).standard_normal((3, w.ne[0])).astype(np.float32)
    result = get_backend("npu-sim", mm="int8").matmul(w, x)
    rw, rx = requantize(w.dequantize(), "per-channel"), requantize(x, "per-tensor")
    exact = rx.codes.astype(np.int64) @ rw.codes.T.astype(np.int64)
    assert np.array_equal(result.raw, exact)
    assert result.details["calls"] == 2
    assert any("split into 2" in note for note in result.details["notes"])


def test_split_fp32_output_matches_the_unsplit_product(oversized):
    w = oversized.tensor("tall.weight")
    x = np.random.default_rng(2).standard_normal((2, w.ne[0])).astype(np.float32)
    y = get_backend("npu-sim", mm="int8-fp32", weight_quant="per-group:32").matmul(w, x).y
    rw, rx = requantize(w.dequantize(), "per-group:32"), requantize(x, "per-tensor")
    expected = (rx.values.astype(np.float64) @ rw.values.T.astype(np.float64))
    assert np.allclose(y, expected, rtol=1e-5, atol=1e-4)
