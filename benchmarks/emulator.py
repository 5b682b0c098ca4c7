"""Benchmark: the exact INT8→INT32 emulator against a float32 numpy matmul of the same shape.

Target: the exact product at M=32, K=4096, N=4096 takes ≤ 3× the float32
matmul (the anchor, measured in the same run). Also shown: the whole
emulated run from native buffers (unpack A and B, product, pack C).

    python benchmarks/emulator.py [--m 32 --k 4096 --n 4096] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np



from _timing import best_of  # noqa: E402

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from layoutscope.backend.rknpu2 import emulator, layout

    m, k, n = args.m, args.k, args.n
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    na, nb = layout.pack_a(a, "rk3588", "int8"), layout.pack_b(b, "rk3588", "int8")
    t_anchor = best_of(lambda: a32 @ b32, args.repeat)
    t_exact = best_of(lambda: emulator.exact_int_matmul(a, b), args.repeat)
    t_run = best_of(lambda: emulator.run(na, nb, "rk3588", "int8", m, k, n), args.repeat)
    t_int64 = best_of(lambda: a.astype(np.int64) @ b.astype(np.int64), 1)
    exact = np.array_equal(emulator.exact_int_matmul(a, b), a.astype(np.int64) @ b.astype(np.int64))
    print(f"M={m} K={k} N={n}")
    print(f"float32 numpy matmul (anchor):            {t_anchor * 1e3:8.2f} ms")
    print(f"exact int8→int32 product:                 {t_exact * 1e3:8.2f} ms  = {t_exact / t_anchor:.2f}x anchor "
          f"(target ≤ 3x: {'met' if t_exact <= 3 * t_anchor else 'NOT met'}); bit-exact vs int64: {exact}")
    print(f"whole emulated run from native buffers:   {t_run * 1e3:8.2f} ms  = {t_run / t_anchor:.2f}x anchor")
    print(f"naive int64 numpy matmul, for reference:  {t_int64 * 1e3:8.2f} ms  = {t_int64 / t_anchor:.1f}x anchor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
