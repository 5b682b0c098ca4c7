"""Standalone ggml ``mul_mat`` against llama.cpp's in-graph output, per weight type, on the real model.

Decodes chunks of the bundled text with :class:`~layoutscope.inference.engine.Engine`,
captures X and Y of every weight's MUL_MAT, recomputes Y with the ``cpu``
backend (standalone ggml) on the captured X, and counts, per weight type,
the bit-identical results and the largest difference. Sweeps llama.cpp's
threads, M (the chunk length) and the standalone call's threads.

``--repack`` loads the model with llama.cpp's weight repacking on
(``use_extra_bufts``, which the Engine turns off) to show the one setting
that makes the two differ: the Q4_K weights then run ggml-cpu's interleaved
Q4_K 8×8 kernels, which quantize X and accumulate in another order.

    python benchmarks/ingraph.py [--model PATH] [--m 1,25,200] [--engine-threads 1,2] [--repack]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _gemma import gemma_path  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


class Capture:
    """Observer that copies X and Y of every weight's matmul."""

    layers = False

    def __init__(self):
        self.got = []

    def wants(self, weight):
        return True

    def matmul(self, weight, x, y):
        self.got.append((weight, x.copy(), y.copy()))


def with_repacking(engine_module) -> None:
    """Make the Engine load models with weight repacking on (demonstration only: its results are not the file's)."""
    real = engine_module.llama()

    class Repacking:
        def __getattr__(self, name):
            return getattr(real, name)

        def llama_model_load_from_file(self, path, params):
            params.use_extra_bufts = True
            return real.llama_model_load_from_file(path, params)

    engine_module.llama = Repacking


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the cached Gemma-3 270M Q4_K_M, fetched if needed)")
    parser.add_argument("--m", type=_ints, default=[1, 25, 200], help="chunk lengths (rows per matmul)")
    parser.add_argument("--engine-threads", type=_ints, default=[1, 2])
    parser.add_argument("--standalone-threads", type=_ints, default=[1, 2])
    parser.add_argument("--repack", action="store_true", help="llama.cpp repacks weights (use_extra_bufts on)")
    args = parser.parse_args()

    import layoutscope
    import layoutscope.inference.engine as engine_module
    from layoutscope.backend import get_backend
    from layoutscope.inference.text import read_text

    path = args.model or gemma_path()
    if args.repack:
        with_repacking(engine_module)
    model = layoutscope.open(path)
    names = [t.name for t in model.tensors]
    cpus = {th: get_backend("cpu", threads=th) for th in args.standalone_threads}
    text = read_text(None)[0]
    print(f"{os.path.basename(path)}, weight repacking {'ON' if args.repack else 'off (as the Engine runs)'}")
    for engine_threads in args.engine_threads:
        with engine_module.Engine(path, names, ctx=max(args.m), threads=engine_threads) as engine:
            tokens = np.concatenate([[engine.bos], engine.tokenize(text)]).astype(np.int32)
            for m in args.m:
                capture = Capture()
                engine.decode(tokens[:m], capture)
                for threads, cpu in cpus.items():
                    per_type = collections.defaultdict(lambda: [0, 0, 0.0])
                    for weight, x, y in capture.got:
                        tensor = model.tensor(weight)
                        diff = float(np.abs(cpu.matmul(tensor, x).y - y).max())
                        row = per_type[tensor.type.name]
                        row[0] += 1
                        row[1] += diff == 0
                        row[2] = max(row[2], diff)
                    cells = "  ".join(f"{name} {same}/{n} identical (max |Δ| {worst:.2g})"
                                      for name, (n, same, worst) in sorted(per_type.items()))
                    print(f"llama.cpp threads {engine_threads}, M {m:3d}, standalone threads {threads}: {cells}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
