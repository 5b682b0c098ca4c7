"""Scan a model vs its floor: ggml's to_float plus ggml's mul_mat of every matmul weight, side by side.

Target (issue 12): a scan costs ≤ 2× the floor, the work no scan can skip
(decoding every weight and running the CPU reference on it), measured in the
same run with the same --jobs: the floor runs each weight's to_float and
mul_mat (M = the scan's rows, its reference threads) in a pool of --jobs
threads, largest weight first, as the scan schedules them. ggml's to_float
alone is printed too (the old anchor). The model is LLaMA-shaped (TinyLlama-1.1B
widths, 2 layers, a 32000 vocabulary output head) with random Q8_0 blocks,
written to a temp file. --decoder numpy decodes with the numpy twin instead
of ggml's to_float (see backend/bulk_decode.py).

    python benchmarks/scan.py [--layers N] [--jobs N] [--decoder auto|numpy]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _models import Q8_0, llama_tensors  # noqa: E402
from _timing import best_of  # noqa: E402
from ggufwrite import STRING, GGUFBuilder  # noqa: E402


def random_q8_0(ne, rng) -> bytes:
    """Random Q8_0 blocks: fp16 scales around 0.01 and int8 codes."""
    blocks = ne[0] * ne[1] // 32
    raw = np.empty((blocks, 34), dtype=np.uint8)
    raw[:, :2] = (rng.uniform(0.002, 0.02, blocks).astype(np.float16)).view(np.uint8).reshape(-1, 2)
    raw[:, 2:] = rng.integers(-127, 128, (blocks, 32), dtype=np.int8).view(np.uint8)
    return raw.tobytes()


def build(path: str, layers: int) -> None:
    rng = np.random.default_rng(0)
    b = GGUFBuilder().add("general.architecture", STRING, "llama")
    for name, ne, type_id in llama_tensors(layers, 2048, 5632, 32000):
        data = random_q8_0(ne, rng) if type_id == Q8_0 else np.ones(ne, np.float32).tobytes()
        b.add_tensor(name, ne, type_id, data)
    b.write(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--decoder", choices=("auto", "numpy"), default="auto",
                        help="bulk decoder of the scan (auto: ggml's to_float where faster)")
    args = parser.parse_args()

    import layoutscope
    from layoutscope.backend.libggml import load
    from layoutscope.analyses.scan import ScanOptions, Scanner, scan_targets
    from layoutscope.backend import bulk_decode

    bulk_decode.DECODER = args.decoder

    ggml = load()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scan-bench.gguf")
        build(path, args.layers)
        with layoutscope.open(path) as model:
            targets, skipped = scan_targets(model)
            elements = sum(t.n_elements for t in targets)
            print(f"{len(targets)} matmul weights ({elements / 1e6:.0f} M elements, Q8_0), {len(skipped)} skipped")

            def anchor():
                for t in targets:
                    ggml.to_float(t.type.id, t.raw(), t.n_elements)

            options = ScanOptions(backend="npu-sim")
            x_by_k = {k: Scanner(model, options).input_for(k)[0] for k in {t.ne[0] for t in targets}}
            largest_first = sorted(targets, key=lambda t: -t.n_elements)

            def floor_of(t):
                ggml.to_float(t.type.id, t.raw(), t.n_elements)
                ggml.mul_mat(t.type.id, t.raw(), t.ne[0], x_by_k[t.ne[0]], threads=options.threads)

            def floor(jobs):
                with ThreadPoolExecutor(max_workers=jobs) as pool:  # ctypes calls release the GIL
                    list(pool.map(floor_of, largest_first))

            t_anchor = best_of(anchor, 3)
            print(f"ggml C to_float of all matmul weights (old anchor): {t_anchor * 1e3:8.1f} ms")
            for jobs in sorted({1, args.jobs}):
                t_floor = best_of(lambda: floor(jobs), 3)
                scanner = Scanner(model, options, jobs=jobs)
                t = best_of(scanner.run, 3)
                ratio = t / t_floor
                verdict = "met" if ratio <= 2 else "MISSED"
                print(f"--jobs {jobs}: floor (to_float + mul_mat M={options.rows}, side by side) {t_floor * 1e3:8.1f} ms;"
                      f" scan {t * 1e3:8.1f} ms = {ratio:5.2f}x floor ({t / t_anchor:5.2f}x old anchor)"
                      + (f"  (target ≤ 2x: {verdict})" if jobs == args.jobs else ""))
            # Where one large weight's time goes, single thread (the scan streams it: see backend/npu_sweep.py).
            from layoutscope.backend.npu_sweep import sweep
            from layoutscope.backend.rknpu2 import requantize
            from layoutscope.measure.metrics import ErrorAccumulator

            profile = Scanner(model, ScanOptions(backend="npu-sim"), jobs=1)
            big = max(targets, key=lambda t: t.n_elements)
            x, _ = profile.input_for(big.ne[0])
            step = ErrorAccumulator.rows_per_block(big.ne[0])
            blocks = range(0, big.n_rows, step)
            t_c = best_of(lambda: ggml.to_float(big.type.id, big.raw(), big.n_elements), 2)
            t_deq = best_of(lambda: all(bulk_decode.dequantize_rows(big, slice(s, s + step)).size for s in blocks), 2)
            t_npu = best_of(lambda: sweep(big, x, profile.backends, block_rows=step), 2)
            w_block = big.dequantize(slice(0, step))
            v_block = requantize(w_block, "per-channel").values
            t_err = best_of(lambda: [ErrorAccumulator().add(v_block, w_block) for _ in blocks], 2)
            t_ref = best_of(lambda: profile.reference.matmul(big, x), 2)
            print(f"one {big.name} ({big.ne[0]}×{big.ne[1]}), single thread, vs its own to_float ({t_c * 1e3:.1f} ms):\n"
                  f"  dequantize in blocks ({args.decoder}) {t_deq / t_c:.2f}x; npu-sim sweep (dequantize, requantize, exact int "
                  f"matmul) {t_npu / t_c:.2f}x;\n  weight-error sums {t_err / t_c:.2f}x; ggml mul_mat {t_ref / t_c:.2f}x")

if __name__ == "__main__":
    main()
