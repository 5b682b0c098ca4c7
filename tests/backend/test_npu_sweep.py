"""The scan's streamed shortcut through npu-sim gives exactly what the whole pipeline gives."""

from __future__ import annotations

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import get_backend
from layoutscope.backend.npu_sweep import can_sweep, sweep
from layoutscope.samples.ggufwrite import GGUFBuilder

F32, Q8_0 = 0, 8
WEIGHT_SCHEMES = ["per-tensor", "per-channel", "fixed", "fixed:0.05"]
ACT_SCHEMES = ["per-tensor", "per-token", "fixed:2"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Q8_0 and F32 weights, one past RK3588's N and K limits so the pipeline splits its calls."""
    rng = np.random.default_rng(11)
    b = GGUFBuilder().add("general.architecture", 8, "llama")
    blocks = 64 * 96 // 32
    q8 = np.empty((blocks, 34), np.uint8)
    q8[:, :2] = rng.uniform(1e-3, 2e-2, blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    q8[:, 2:] = rng.integers(-127, 128, (blocks, 32), dtype=np.int8).view(np.uint8)
    b.add_tensor("q8.weight", (96, 64), Q8_0, q8.tobytes())
    w = rng.standard_normal((37, 40)).astype(np.float32)
    w[5] = 0.0  # an all-zero row: scale 1, codes 0
    b.add_tensor("f32.weight", (40, 37), F32, w.tobytes())
    b.add_tensor("tall.weight", (8256, 5), F32, rng.standard_normal((5, 8256)).astype(np.float32).tobytes())
    b.add_tensor("wide.weight", (32, 4160), F32, rng.standard_normal((4160, 32)).astype(np.float32).tobytes())
    path = tmp_path_factory.mktemp("sweep") / "sweep.gguf"
    b.write(path)
    with layoutscope.open(path) as opened:
        yield opened


@pytest.mark.parametrize("act", ACT_SCHEMES)
@pytest.mark.parametrize("tensor", ["q8.weight", "f32.weight", "tall.weight", "wide.weight"])
def test_sweep_is_bit_identical_to_the_pipeline_for_every_scheme(model, tensor, act):
    weight = model.tensor(tensor)
    x = np.random.default_rng(3).standard_normal((3, weight.ne[0])).astype(np.float32)
    backends = [get_backend("npu-sim", weight_quant=s, act_quant=act) for s in WEIGHT_SCHEMES]
    seen: dict[int, list] = {i: [] for i in range(len(backends))}
    ys = sweep(weight, x, backends, block_rows=4, on_block=lambda i, start, values, w: seen[i].append((start, values)))
    for i, backend in enumerate(backends):
        prepared = backend.prepare(weight)
        expected = backend.matmul_prepared(prepared, x)
        assert np.array_equal(ys[i], expected.y), backend.weight_quant
        starts = [start for start, _ in seen[i]]
        assert starts == list(range(0, weight.n_rows, 4))
        assert np.array_equal(np.concatenate([v for _, v in seen[i]]), prepared.requantized.values)


def test_sweep_covers_only_what_it_reproduces_exactly(model):
    from layoutscope.analyses.diagnose import Context, Injection, _BuggySim

    assert can_sweep(get_backend("npu-sim"))
    weight = model.tensor("q8.weight")
    ctx = Context(weight, np.ones((1, 96), np.float32))
    buggy = _BuggySim(ctx, Injection(unscaled=True), get_backend("npu-sim").prepare(weight))
    assert not can_sweep(buggy)  # a bug injected into C or B must go through the calls
    assert not can_sweep(get_backend("npu-sim", mm="int8-fp32"))
    assert not can_sweep(get_backend("npu-sim", mm="int4"))
    assert not can_sweep(get_backend("cpu-numpy"))
    with pytest.raises(ValueError, match="npu-sim backends with --mm int8"):
        sweep(model.tensor("q8.weight"), np.zeros((1, 96), np.float32), [get_backend("npu-sim", mm="fp16")], 4)
