"""Benchmark: ``layoutscope dump --csv`` of a 1.31 M-value tensor, in values per second.

Builds a Q8_0 weight of 1024 × 1280 values with realistic scales (fp16 ``d``
around 2e-3, int8 codes) and times the real command line, in process, writing
the whole tensor as ``row,col,value`` CSV to a file. The anchor, measured in the
same run on the same values, is numpy writing the same three columns with
``np.savetxt(fmt="%.9g")``: a C-speed-ish formatter that is not shortest
round-trip text (so its file is bigger and differs). Prints both rates and
their ratio; ``--check`` also confirms that the CSV's value column reads back
bit-exactly as the dequantized float32 tensor.

    python benchmarks/dump.py [--repeat 3] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _timing import best_of  # noqa: E402
from ggufwrite import STRING, GGUFBuilder  # noqa: E402

K, N = 1024, 1280
NAME = "blk.0.ffn_up.weight"


def q8_0_model(path: str) -> None:
    """A GGUF with one Q8_0 weight of K × N values (seeded)."""
    rng = np.random.default_rng(7)
    blocks = K * N // 32
    d = (rng.uniform(5e-4, 4e-3, blocks)).astype("<f2")
    qs = rng.integers(-127, 128, (blocks, 32), dtype=np.int8)
    raw = np.empty((blocks, 34), np.uint8)
    raw[:, :2] = d.view(np.uint8).reshape(blocks, 2)
    raw[:, 2:] = qs.view(np.uint8)
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add_tensor(NAME, (K, N), 8, raw.tobytes())
    b.write(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="read the CSV back and compare with the tensor")
    args = parser.parse_args()

    import layoutscope
    from layoutscope.cli.main import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "bench.gguf")
        q8_0_model(model)
        out = os.path.join(tmp, "dump.csv")
        with layoutscope.open(model) as m:
            values = m.tensor(NAME).dequantize()
        n = values.size

        def ours():
            with contextlib.redirect_stderr(io.StringIO()):  # its "wrote N values to PATH" line
                assert cli(["dump", model, NAME, "--csv", out]) == 0

        rows, cols = np.divmod(np.arange(n), values.shape[1])
        table = np.column_stack([rows, cols, values.ravel().astype(np.float64)])
        anchor_out = os.path.join(tmp, "anchor.csv")

        def anchor():
            np.savetxt(anchor_out, table, fmt="%.9g", delimiter=",", header="row,col,value", comments="")

        t_ours = best_of(ours, args.repeat)
        t_anchor = best_of(anchor, args.repeat)
        size = os.path.getsize(out)
        print(f"dump --csv, {NAME} Q8_0 {K}x{N} = {n:,} values ({size / 1e6:.1f} MB of CSV)")
        print(f"  layoutscope dump --csv      {t_ours:7.3f} s  {n / t_ours:12,.0f} values/s")
        print(f"  anchor np.savetxt(%.9g)     {t_anchor:7.3f} s  {n / t_anchor:12,.0f} values/s")
        print(f"  ratio (ours / anchor rate)  {t_anchor / t_ours:7.2f}x")
        if args.check:
            got = np.loadtxt(out, delimiter=",", skiprows=1, usecols=2, dtype=np.float64).astype(np.float32)
            same = np.array_equal(got.view(np.uint32), values.ravel().view(np.uint32))
            print(f"  CSV values read back bit-exactly: {same}")


if __name__ == "__main__":
    main()
