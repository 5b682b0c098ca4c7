"""Benchmark: ``compare`` end to end on a generated 4096×4096 Q8_0 weight.

Times the whole comparison (dequantize, requantize, pack, exact emulation,
ggml's CPU matmul, metrics) for M = 32 token rows, next to two anchors
measured in the same run: a float32 numpy matmul of the same shape and
ggml's CPU matmul alone.

    python benchmarks/compare.py [--n 4096 --k 4096 --m 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples"))

from ggufwrite import STRING, GGUFBuilder  # noqa: E402



from _timing import best_of  # noqa: E402

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import layoutscope
    from layoutscope.backend import get_backend
    from layoutscope.backend.libggml import load
    from layoutscope.measure.comparison import run_comparison

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((args.n, args.k)) * 0.02).astype(np.float32)
    x = rng.standard_normal((args.m, args.k)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.gguf")
        b = GGUFBuilder()
        b.add("general.architecture", STRING, "llama")
        b.add_tensor("blk.0.ffn_up.weight", (args.k, args.n), 8, load().quantize(8, w).tobytes())
        b.write(path)
        with layoutscope.open(path) as model:
            t = model.tensor("blk.0.ffn_up.weight")
            sim, cpu = get_backend("npu-sim"), get_backend("cpu")
            t_compare = best_of(lambda: run_comparison(t, x, sim, cpu, "random"), args.repeat)
            t_cpu = best_of(lambda: cpu.matmul(t, x), args.repeat)
            t_sim = best_of(lambda: sim.matmul(t, x), args.repeat)
            details = sim.matmul(t, x).details["seconds"]
    wf = w.T.copy()
    t_anchor = best_of(lambda: x @ wf, args.repeat)
    print(f"Q8_0 W {args.n}×{args.k}, X {args.m}×{args.k}")
    print(f"float32 numpy matmul (anchor):        {t_anchor * 1e3:8.1f} ms")
    print(f"ggml CPU mul_mat (reference):         {t_cpu * 1e3:8.1f} ms  = {t_cpu / t_anchor:6.1f}x anchor")
    print(f"npu-sim matmul:                       {t_sim * 1e3:8.1f} ms  = {t_sim / t_anchor:6.1f}x anchor  "
          + " ".join(f"{k} {v * 1e3:.0f} ms" for k, v in details.items() if k != "total"))
    print(f"whole compare (both + metrics):       {t_compare * 1e3:8.1f} ms  = {t_compare / t_anchor:6.1f}x anchor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
