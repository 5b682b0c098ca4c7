"""Whole-model runs vs llama.cpp's plain forward of the same tokens (the anchor), on the tiny and the real model.

For each model (the bundled tiny LLaMA, then the cached Gemma-3 270M Q4_K_M,
fetched once by ``_gemma.py``), one chunk of the bundled text is decoded by
:class:`~layoutscope.inference.engine.Engine` and timed as:

- the plain forward, no observer (the anchor);
- a capture: an observer copying X and Y of every weight's matmul (target ≤ 1.3×),
  into buffers it reuses from one decode to the next;
- a full-offload eval pass: every matmul weight on ``npu-sim`` (int8), each
  weight requantized once beforehand, its result written into Y (target ≤ 2×),
  with numpy's BLAS threads as they are and limited to one thread;
- that one-time preparation (decode and requantize, codes and scales kept,
  no float copies), against ggml's ``to_float`` of every weight (target ≤ 2× that);
- the process's peak RSS next to the model file's size (each model runs in
  a child process of its own, so its peak is its own).

Timed pairs run interleaved (best of --repeat each), so a busy machine slows both sides alike.

    python benchmarks/eval.py [--tokens 128] [--threads 2] [--repeat 5] [--tiny-only]
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _timing import best_of  # noqa: E402

TINY = os.path.join(HERE, "..", "samples", "tiny-llama-q8_0.gguf")


class Capture:
    """Copies X and Y of every weight's matmul (what a reference run keeps) into buffers reused chunk after chunk."""

    layers = False

    def __init__(self):
        self.kept = {}

    def wants(self, weight):
        return True

    def matmul(self, weight, x, y):
        kept = self.kept.get(weight)
        if kept is None or kept[0].shape != x.shape:
            self.kept[weight] = (x.copy(), y.copy())
        else:
            np.copyto(kept[0], x)
            np.copyto(kept[1], y)


class Offload:
    """Replaces every weight's matmul output with npu-sim's on the same input (weights prepared once)."""

    layers = False

    def __init__(self, backend, prepared):
        self.backend, self.prepared = backend, prepared

    def wants(self, weight):
        return weight in self.prepared

    def matmul(self, weight, x, y):
        y[...] = self.backend.matmul_prepared(self.prepared[weight], x).y


def best_interleaved(fns, repeat: int) -> list[float]:
    """Best wall time of each of ``fns``, called in turn ``repeat`` times: a busy machine slows them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _verdict(ratio: float, target: float) -> str:
    return f"(target ≤ {target:g}x: {'met' if ratio <= target else 'MISSED'})"


def run_one(path: str, tokens: int, threads: int, repeat: int) -> None:
    """Measure one model in this process and print its lines."""
    import layoutscope
    from layoutscope.backend import get_backend
    from layoutscope.backend.libggml import load
    from layoutscope.inference.engine import Engine
    from layoutscope.inference.evaluate import matmul_weights
    from layoutscope.inference.text import read_text
    from threadpoolctl import threadpool_limits

    ggml = load()
    model = layoutscope.open(path)
    sim = get_backend("npu-sim")
    with Engine(path, [t.name for t in model.tensors], ctx=tokens, threads=threads) as engine:
        ids = np.concatenate([[engine.bos], engine.tokenize(read_text(None)[0])])[:tokens].astype(np.int32)
        seen = matmul_weights(engine, ids)  # llama.cpp runs each weight once per forward
        weights = [model.tensor(name) for name in seen]
        elements = sum(w.n_elements for w in weights)
        types = sorted({w.type.name for w in weights})
        print(f"{os.path.basename(path)}: {len(ids)} tokens, {len(seen)} weight matmuls per forward "
              f"({len(weights)} weights, {elements / 1e6:.1f} M elements, {'/'.join(types)}), "
              f"llama.cpp threads {engine.facts.threads}")

        capture = Capture()
        t_plain, t_capture = best_interleaved([lambda: engine.decode(ids), lambda: engine.decode(ids, capture)],
                                              repeat)
        print(f"  plain llama.cpp forward (anchor):       {t_plain * 1e3:8.1f} ms")
        r = t_capture / t_plain
        print(f"  capture X and Y of every weight:        {t_capture * 1e3:8.1f} ms = {r:5.2f}x anchor  "
              + _verdict(r, 1.3))
        del capture

        def to_float_all():
            for w in weights:  # one weight's floats at a time, as a preparation holds them
                ggml.to_float(w.type.id, w.raw(), w.n_elements)

        t_to_float = best_of(to_float_all, 2)
        t0 = time.perf_counter()
        prepared = {w.name: sim.prepare(w, keep_values=False) for w in weights}  # codes and scales only
        t_prepare = time.perf_counter() - t0
        r = t_prepare / t_to_float
        print(f"  ggml to_float of every weight:          {t_to_float * 1e3:8.1f} ms")
        print(f"  npu-sim preparation (decode+requantize): {t_prepare * 1e3:7.1f} ms = {r:5.2f}x to_float  "
              + _verdict(r, 2))
        offload = Offload(sim, prepared)
        t_plain, t_eval = best_interleaved([lambda: engine.decode(ids), lambda: engine.decode(ids, offload)], repeat)
        r = t_eval / t_plain
        print(f"  full-offload eval pass (npu-sim int8):  {t_eval * 1e3:8.1f} ms = {r:5.2f}x anchor  "
              f"(BLAS threads as numpy sets them; anchor {t_plain * 1e3:.1f} ms)")
        with threadpool_limits(limits=1, user_api="blas"):
            # Inside the graph llama.cpp's threads hold the cores: BLAS's own would oversubscribe them.
            t_plain, t_eval = best_interleaved([lambda: engine.decode(ids), lambda: engine.decode(ids, offload)],
                                               repeat)
        r = t_eval / t_plain
        print(f"  the same, BLAS on one thread:           {t_eval * 1e3:8.1f} ms = {r:5.2f}x anchor  "
              + _verdict(r, 2) + f"  (anchor {t_plain * 1e3:.1f} ms)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    size = os.path.getsize(path)
    print(f"  peak RSS {peak / 2**20:7.1f} MiB, model file {size / 2**20:7.1f} MiB ({peak / size:.2f}x)")


def main() -> int:
    from _gemma import per_model_parser, run_per_model

    parser = per_model_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    if args.model:
        run_one(args.model, args.tokens, args.threads, args.repeat)
        return 0
    run_per_model(__file__, TINY, args.tiny_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
