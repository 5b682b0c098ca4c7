"""Dequantization throughput: layoutscope vs ggml's to_float vs gguf-py.

For every dequantizable type in the registry this quantizes one fixed random
N×N float32 matrix with ggml (plain types are built with numpy), then times,
best of ``--repeat`` runs each, on the same bytes in one process:

* layoutscope: ``ggml_type(id).dequantize(raw)``;
* ggml: ``to_float`` through ctypes (n/a where ggml has none);
* gguf-py: ``gguf.quants.dequantize`` (n/a where it does not support the id);

and a 64-row window at row 0 and at row 4000 (or the last 64 rows when N is
smaller). Targets: ours ≥ 0.5× ggml for Q8_0, Q4_0, Q4_K and Q6_K; ours ≥ 3×
gguf-py everywhere gguf-py works; a 64-row window ≤ 5 ms.

ggml's IQ quantizers need seconds per row batch, so when quantizing all N rows
would take more than ``--quantize-budget`` seconds only the first rows are
quantized and repeated down the tensor (marked ``*``); this does not change
the dequantization work. Run: ``python benchmarks/dequantize.py [--size N]
[--types Q8_0,Q4_K] [--threads T]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import best_of  # noqa: E402

WINDOW_ROWS = 64
SPEED_VS_GGML = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="matrix is SIZE×SIZE (default 4096)")
    parser.add_argument("--types", default="", help="comma-separated type names (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs (default 5)")
    parser.add_argument("--threads", type=int, default=0, help="layoutscope threads (default: its own choice)")
    parser.add_argument(
        "--quantize-budget", type=float, default=2.0, help="seconds of ggml quantization per type before rows are repeated"
    )
    return parser.parse_args(argv)


def fp16_bytes(values: np.ndarray) -> np.ndarray:
    return values.astype("<f2").view(np.uint8)


def q8_1_rows(values: np.ndarray) -> np.ndarray:
    """Q8_1 built in numpy (ggml cannot quantize it through quantize_chunk)."""
    blocks = values.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    d = amax / 127
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d > 0, np.round(blocks / d), 0).astype(np.int8)
    out = np.empty((blocks.shape[0], 36), np.uint8)
    out[:, 0:2] = fp16_bytes(d)
    out[:, 2:4] = fp16_bytes(d * q.sum(axis=1, keepdims=True, dtype=np.int32))
    out[:, 4:] = q.view(np.uint8)
    return out.reshape(values.shape[0], -1)


def q8_k_rows(values: np.ndarray) -> np.ndarray:
    """Q8_K built in numpy (an activation format ggml does not quantize through quantize_chunk)."""
    blocks = values.reshape(-1, 256)
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    d = (amax / 127).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d > 0, np.round(blocks / d), 0).astype(np.int8)
    out = np.empty((blocks.shape[0], 292), np.uint8)
    out[:, 0:4] = d.astype("<f4").view(np.uint8)
    out[:, 4:260] = q.view(np.uint8)
    out[:, 260:] = q.reshape(-1, 16, 16).sum(axis=2, dtype=np.int16).astype("<i2").view(np.uint8)
    return out.reshape(values.shape[0], -1)


def build_raw(t, values: np.ndarray, lib, budget: float) -> tuple[np.ndarray, bool]:
    """The tensor's bytes, shape (rows, row_bytes), and whether rows were repeated."""
    rng = np.random.default_rng(t.id)
    n_rows, n_cols = values.shape
    if t.block_size == 1:
        if t.name == "F32":
            raw = values.astype("<f4").view(np.uint8)
        elif t.name == "F16":
            raw = fp16_bytes(values)
        elif t.name == "BF16":
            raw = (values.view(np.uint32) >> 16).astype("<u2").view(np.uint8)
        elif t.name == "F64":
            raw = values.astype("<f8").view(np.uint8)
        else:
            info = np.iinfo({"I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64}[t.name])
            ints = rng.integers(info.min, info.max, size=values.shape, dtype=info.dtype, endpoint=True)
            raw = ints.astype(info.dtype.newbyteorder("<")).view(np.uint8)
        return raw.reshape(n_rows, -1), False
    if t.name == "Q8_1":
        return q8_1_rows(values), False
    if t.name == "Q8_K":
        return q8_k_rows(values), False
    traits = lib.traits(t.id)
    imatrix = np.ones(n_cols, np.float32) if traits.requires_imatrix else None
    probe_rows = min(16, n_rows)
    start = time.perf_counter()
    probe = lib.quantize(t.id, values[:probe_rows], imatrix)
    per_row = (time.perf_counter() - start) / probe_rows
    rows = n_rows if per_row * n_rows <= budget else max(probe_rows, int(budget / max(per_row, 1e-9)))
    rows = min(rows, n_rows)
    part = probe if rows == probe_rows else lib.quantize(t.id, values[:rows], imatrix)
    if rows == n_rows:
        return part, False
    reps = -(-n_rows // rows)
    return np.tile(part, (reps, 1))[:n_rows], True


def gguf_dequantizer(t, raw: np.ndarray, values_shape):
    """A zero-argument callable running gguf-py on the same data, or None."""
    try:
        import gguf
        from gguf import quants

        qtype = gguf.GGMLQuantizationType(t.id)
    except Exception:
        return None
    if t.name == "F32":
        data = raw.view("<f4")
    elif t.name == "F16":
        data = raw.view("<f2")
    else:
        data = raw

    def run():
        return quants.dequantize(data, qtype)

    try:
        result = run()
    except Exception:
        return None
    if np.asarray(result).size != values_shape[0] * values_shape[1]:
        return None
    return run


def rate(n_elements: int, seconds: float | None) -> str:
    return f"{'n/a':>8}" if seconds is None else f"{n_elements / seconds / 1e6:8.0f}"


def ratio(ours: float, theirs: float | None) -> str:
    return f"{'n/a':>6}" if theirs is None else f"{theirs / ours:5.2f}x"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.threads:
        os.environ["LAYOUTSCOPE_THREADS"] = str(args.threads)
    from layoutscope.backend.libggml import load
    from layoutscope.formats import all_types, ggml_type
    from layoutscope.formats import _kernel

    lib = load()
    n = args.size
    values = (np.random.default_rng(20240501).standard_normal((n, n)) * 0.02).astype(np.float32)
    if args.types:
        types = [ggml_type(name.strip()) for name in args.types.split(",") if name.strip()]
    else:
        types = [t for t in all_types() if not t.removed and t.can_dequantize]
    types = [t for t in types if t.can_dequantize and n % t.block_size == 0]
    window_at = min(4000, n - WINDOW_ROWS)

    print(f"{n}×{n} elements, best of {args.repeat}, layoutscope threads: {_kernel.THREADS}")
    header = (
        f"{'type':8} {'ours':>8} {'ggml':>8} {'gguf-py':>8}  {'ours/ggml':>10} {'ours/gguf':>10}"
        f"  {'win@0':>7} {f'win@{window_at}':>9}  exact  notes"
    )
    print("Melem/s" + " " * 2 + "(window times in ms)")
    print(header)
    print("-" * len(header))
    misses = []
    for t in types:
        raw, repeated = build_raw(t, values, lib, args.quantize_budget)
        n_el = raw.shape[0] * raw.shape[1] // t.type_size * t.block_size
        ours = best_of(lambda: t.dequantize(raw), args.repeat)
        ggml_s = None
        exact = "-"
        if lib.has_to_float(t.id):
            ggml_s = best_of(lambda: lib.to_float(t.id, raw, n_el), args.repeat)
            ref = lib.to_float(t.id, raw, n_el)
            mine = t.dequantize(raw).reshape(-1)
            same = np.array_equal(np.isnan(mine), np.isnan(ref)) and np.array_equal(
                mine[~np.isnan(mine)].view(np.uint32), ref[~np.isnan(ref)].view(np.uint32)
            )
            exact = "yes" if same else "NO"
        gguf_run = gguf_dequantizer(t, raw, values.shape)
        gguf_s = best_of(gguf_run, args.repeat) if gguf_run else None
        win0 = best_of(lambda: t.dequantize(raw[:WINDOW_ROWS]), args.repeat * 4)
        win_far = best_of(lambda: t.dequantize(raw[window_at : window_at + WINDOW_ROWS]), args.repeat * 4)

        notes = []
        if t.name in SPEED_VS_GGML and ggml_s is not None:
            ok = ggml_s / ours >= 0.5
            notes.append(f"≥0.5× ggml {'ok' if ok else 'MISS'}")
            if not ok:
                misses.append(f"{t.name} vs ggml")
        if gguf_s is not None and t.name == "F32":
            notes.append("gguf-py returns a view of F32 input: no target")
        elif gguf_s is not None:
            ok = gguf_s / ours >= 3
            notes.append(f"≥3× gguf-py {'ok' if ok else 'MISS'}")
            if not ok:
                misses.append(f"{t.name} vs gguf-py")
        if max(win0, win_far) > 0.005:
            notes.append("window > 5 ms MISS")
            misses.append(f"{t.name} window")
        if repeated:
            notes.append("* rows repeated")
        if exact == "NO":
            misses.append(f"{t.name} not bit-exact")
        print(
            f"{t.name:8} {rate(n_el, ours)} {rate(n_el, ggml_s)} {rate(n_el, gguf_s):>8}  "
            f"{ratio(ours, ggml_s):>10} {ratio(ours, gguf_s):>10}  "
            f"{win0 * 1e3:7.2f} {win_far * 1e3:9.2f}  {exact:5}  {'; '.join(notes)}"
        )
        sys.stdout.flush()
    print()
    print("all targets met" if not misses else "targets missed: " + ", ".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
