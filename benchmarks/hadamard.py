"""Benchmark: the Hadamard rotation of X against a float32 K×K matmul, and against the INT8 quantization it precedes.

The rotation (signs, zero padding, the unnormalized fast Walsh–Hadamard
transform) is O(K log K) per row; the anchor is the same X times a dense
K×K float32 matrix (what the rotation would cost as a matrix product),
measured in the same run. Also shown: the per-(row, K segment) INT8
quantization of the rotated X that follows it in W8A8_HADAMARD.

    python benchmarks/hadamard.py [--m 512 --k 4096] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from _timing import best_of  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=512)
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from layoutscope.backend.community import hadamard
    from layoutscope.backend.community.emulator import CommunityBackend

    m, k = args.m, args.k
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k)).astype(np.float32)
    dense = rng.standard_normal((k, k)).astype(np.float32)
    signs = hadamard.sign_vector(0, "bench", hadamard.k_op(k))
    rotated = hadamard.rotate(x, signs)
    backend = CommunityBackend("W8A8_HADAMARD")
    t_anchor = best_of(lambda: x @ dense, args.repeat)
    t_rotate = best_of(lambda: hadamard.rotate(x, signs), args.repeat)
    t_quant = best_of(lambda: backend.quantize_activations(rotated), args.repeat)
    print(f"M={m} K={k} (K_op={hadamard.k_op(k)})")
    print(f"float32 numpy matmul X·(K×K) (anchor):   {t_anchor * 1e3:8.2f} ms")
    print(f"Hadamard rotation of X:                  {t_rotate * 1e3:8.2f} ms  = {t_rotate / t_anchor:.3f}x anchor  "
          f"= {t_rotate / t_quant:.2f}x the INT8 quantization")
    print(f"INT8 quantization of the rotated X:      {t_quant * 1e3:8.2f} ms  = {t_quant / t_anchor:.3f}x anchor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
