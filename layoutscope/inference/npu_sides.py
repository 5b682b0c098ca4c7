"""The NPU side of a whole-model run: the backend that recomputes the offloaded matmuls, and why it was chosen.

``eval``, ``plan`` and the TUI's Offload screen ask the same question: for
``--backend`` (``auto``, ``npu-sim``, ``npu`` or ``cpu``, the null test) and
the run settings (pipeline, calibration, seed, fork options), which backend
computes the NPU side, and what must the report say about it (a stand-in
emulator, the UNCONFIRMED behaviours of a community pipeline).
"""

from __future__ import annotations

#: What a whole-model run's --backend may name: the NPU sides, and ``cpu`` (ggml's own result: the null test).
EVAL_BACKENDS = ("auto", "npu-sim", "npu", "cpu")


def npu_side_for(requested: str, settings) -> tuple:
    """``(backend, notices)``: the backend that computes the NPU side, and the notes saying why it was chosen."""
    from layoutscope.backend import get_backend, npu_backend
    from layoutscope.inference.engine import default_threads

    if requested == "cpu":
        # ggml's own CPU result on the same input, written back through the same path.
        return get_backend("cpu", threads=settings.threads or default_threads()), [
            "--backend cpu: the NPU side is ggml's CPU matmul on the same input (the null test: the KL divergence "
            "must be 0)"]
    backend, notice = npu_backend(requested, core=settings.npu_core, **settings.npu_options())
    unconfirmed = [f"UNCONFIRMED: {u}" for u in getattr(backend, "unconfirmed", lambda: [])()]
    return backend, ([notice] if notice else []) + unconfirmed
