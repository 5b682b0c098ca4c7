"""``npu-sim``: the whole NPU path off the board, through the exact emulator.

The pipeline (``npu_pipeline``) is the one the real ``npu`` backend runs;
here each call's native A and B go to ``rknpu2.emulator``, which decodes them
with the platform's documented layouts, so packing mistakes reproduce.
"""

from __future__ import annotations

from .npu_pipeline import NpuPipelineBackend, stateless
from .rknpu2 import emulator


class NpuSimBackend(NpuPipelineBackend):
    """The RKNPU2 matmul emulated exactly on native-layout buffers."""

    name = "npu-sim"

    def session(self):
        """Each call runs on the exact emulator."""
        def execute(call, a_native, b_native, scales):
            return emulator.run(a_native, b_native, self.platform, self.mm.name, call.m, call.k, call.n, **scales)

        return stateless(execute)
