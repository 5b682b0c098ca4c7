"""The NPU pipeline's documented extension points: session, runtime_scales, rescale, in that order."""

from __future__ import annotations

import contextlib

import numpy as np

from array_weight import ArrayWeight

from layoutscope.backend.npu_sim import NpuSimBackend


class Recording(NpuSimBackend):
    """npu-sim that records each hook as it runs, and can drop the CPU rescale."""

    def __init__(self, rescaled: bool = True):
        super().__init__()
        self.events: list = []
        self.rescaled = rescaled

    @contextlib.contextmanager
    def session(self):
        self.events.append("session")
        with super().session() as execute:
            def recorded(call, a_native, b_native, scales):
                self.events.append(("execute", call.n0, scales is self.handed))
                return execute(call, a_native, b_native, scales)

            yield recorded
        self.events.append("session closed")

    def runtime_scales(self, rw, rx, call):
        self.events.append(("runtime_scales", call.n0))
        self.handed = super().runtime_scales(rw, rx, call)
        return self.handed

    def rescale(self, acc, weight_scale, act_scale, runtime_scales):
        self.events.append("rescale")
        return super().rescale(acc, weight_scale, act_scale, runtime_scales) if self.rescaled else acc


def _inputs():
    rng = np.random.default_rng(1)
    # N = 4097 is two calls on rk3588 (N is cut at 4096).
    return ArrayWeight(rng.standard_normal((4097, 32))), rng.standard_normal((2, 32)).astype(np.float32)


def test_hooks_run_in_the_documented_order():
    weight, x = _inputs()
    backend = Recording()
    result = backend.matmul(weight, x)
    assert backend.events == [
        "session",
        ("runtime_scales", 0), ("execute", 0, True),  # the executor gets runtime_scales' own dict
        ("runtime_scales", 4096), ("execute", 4096, True),
        "rescale",
        "session closed",
    ]
    assert np.array_equal(result.y, NpuSimBackend().matmul(weight, x).y)


def test_overriding_a_hook_changes_the_result():
    weight, x = _inputs()
    y = NpuSimBackend().matmul(weight, x).y
    unscaled = Recording(rescaled=False).matmul(weight, x).y
    assert not np.allclose(unscaled, y)
