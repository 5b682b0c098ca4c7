"""Benchmark: pack LLaMA-2-7B-sized int8 B matrices into RK3588 native layout.

Target: packing a 4096×11008 int8 B takes ≤ 0.5 s. Both orientations are
measured: ffn_up (K = 4096, N = 11008) and ffn_down (K = 11008, N = 4096,
split into two K segments on RK3588). The anchor is a plain contiguous copy
of the same matrix (``np.ascontiguousarray(b.T)``), measured in the same run.

    python benchmarks/pack.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np



from _timing import best_of  # noqa: E402

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from layoutscope.backend.rknpu2.layout import pack_b, unpack_b

    rng = np.random.default_rng(0)
    for label, k, n in (("ffn_up   K=4096  N=11008", 4096, 11008), ("ffn_down K=11008 N=4096", 11008, 4096)):
        for dtype in ("int8", "fp16", "int4"):
            lo, hi = (-8, 8) if dtype == "int4" else (-128, 128)
            b = rng.integers(lo, hi, size=(k, n), dtype=np.int8)
            if dtype == "fp16":
                b = b.astype(np.float16)
            t_pack = best_of(lambda: pack_b(b, "rk3588", dtype), args.repeat)
            t_copy = best_of(lambda: np.ascontiguousarray(b.T), args.repeat)
            native = pack_b(b, "rk3588", dtype)
            t_unpack = best_of(lambda: unpack_b(native, "rk3588", dtype, k, n), args.repeat)
            target = "  (target ≤ 0.5 s: " + ("met)" if t_pack <= 0.5 else "NOT met)") if dtype == "int8" else ""
            print(f"{label} {dtype:5}: pack {t_pack * 1e3:7.1f} ms, unpack {t_unpack * 1e3:7.1f} ms, "
                  f"transpose-copy anchor {t_copy * 1e3:6.1f} ms, pack/anchor {t_pack / t_copy:5.2f}x{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
