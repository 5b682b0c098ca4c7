"""Benchmark: a 64-row window deep inside a 262,144-row embedding costs the same as at row 0.

Opens a sparse GGUF whose ``token_embd.weight`` has 262,144 rows of 4096
elements (Q8_0, Q4_K, Q6_K, F16; a hole for data) and times
``Tensor.dequantize(slice(r, r + 64))`` at row 0 and row 200,000 through the
memory map. The anchor is the row-0 window of the same tensor. Targets:
≤ 5 ms per window, and the deep window within noise of the row-0 window.

    python benchmarks/window.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_of  # noqa: E402
from ggufwrite import STRING, GGUFBuilder  # noqa: E402

ROWS, WIDTH, WINDOW = 262_144, 4096, 64
TYPES = ("Q8_0", "Q4_K", "Q6_K", "F16")


def sparse_embedding(path: str, type_name: str) -> None:
    from layoutscope.formats import ggml_type

    t = ggml_type(type_name)
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("token_embd.weight", (WIDTH, ROWS), t.id, b"", offset=0)
    head = b.header_bytes()
    start = len(head) + (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + bytes(start - len(head)))
        f.truncate(start + t.row_bytes(WIDTH) * ROWS)


def timed_window(tensor, row: int, repeat: int) -> tuple[float, float]:
    """(first call, best of ``repeat``) in ms."""
    t0 = time.perf_counter()
    tensor.dequantize(slice(row, row + WINDOW))
    first = time.perf_counter() - t0
    best = best_of(lambda: tensor.dequantize(slice(row, row + WINDOW)), repeat)
    return first * 1e3, best * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import layoutscope

    print(f"token_embd.weight: {ROWS} rows × {WIDTH}, 64-row windows, best of {args.repeat} (first call in brackets)")
    print(f"{'type':6} {'row 0 ms':>16} {'row 200000 ms':>18} {'deep/row0':>10}  target")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in TYPES:
            path = os.path.join(tmp, f"{name}.gguf")
            sparse_embedding(path, name)
            with layoutscope.open(path) as model:
                t = model.tensor("token_embd.weight")
                t.dequantize(slice(100, 101))  # load the type's tables once
                first0, best0 = timed_window(t, 0, args.repeat)
                first_deep, best_deep = timed_window(t, 200_000, args.repeat)
            worst = max(worst, best0, best_deep, first0, first_deep)
            ok = "met" if max(best0, best_deep) <= 5 else "NOT met"
            print(f"{name:6} {best0:8.2f} ({first0:5.2f}) {best_deep:10.2f} ({first_deep:5.2f}) {best_deep / best0:9.2f}x  ≤5 ms {ok}")
    print(f"slowest window including first calls: {worst:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
