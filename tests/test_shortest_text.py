"""The vectorised shortest text is byte-identical to ``fmt``, and so is the streamed ``dump --csv``."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

import layoutscope
from layoutscope.formats._common import fmt
from layoutscope.samples import TINY_LLAMA, path as sample_path
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder
from layoutscope.shortest_text import shortest_texts

#: Values where the fast path must step aside: signed zeros, subnormals, powers of two, the ends of
#: float32, the edges of the fast path's magnitude range, integers past 2**24, non-finite values.
SPECIAL = np.array([
    0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 3.4028233e38,
    1.0, 2.0, 0.5, 0.25, 1024.0, 2.0 ** -20, 2.0 ** 100, 0.1, 0.3, 1e-4, 9.999999e-5, 1.0000001e-4, 1e15,
    9.9999998e14, 33554436.0, 16777217.0, 123456789.0, 1e10, 9.999999, 10.0, 99999.99, np.inf, -np.inf, np.nan,
], np.float32)


def old_texts(values: np.ndarray) -> list[str]:
    return [fmt(v) for v in np.asarray(values, np.float32).ravel()]


def test_special_values():
    assert shortest_texts(SPECIAL) == old_texts(SPECIAL)
    assert shortest_texts(SPECIAL)[:2] == ["0", "-0"] and shortest_texts(SPECIAL)[-3:] == ["inf", "-inf", "nan"]


def test_every_power_of_two_and_its_neighbours():
    powers = np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32)
    near = np.concatenate([powers, np.nextafter(powers, np.float32(0)), np.nextafter(powers, np.float32(np.inf))])
    near = near[np.isfinite(near)]
    assert shortest_texts(near) == old_texts(near)
    assert shortest_texts(-near) == old_texts(-near)


def test_random_bit_patterns():
    bits = np.random.default_rng(1).integers(0, 2**32, 40_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    assert shortest_texts(values) == old_texts(values)


@pytest.mark.parametrize("seed", [0, 1])
def test_dequantized_weights(seed):
    rng = np.random.default_rng(seed)
    d = rng.uniform(5e-4, 4e-3, 1_000).astype(np.float16).astype(np.float32).repeat(32)
    values = d * rng.integers(-127, 128, d.size).astype(np.float32)
    normal = (rng.standard_normal(20_000) * 0.02).astype(np.float32)
    values = np.concatenate([values, normal, np.float32(1000) * normal]).reshape(-1, 100)
    assert shortest_texts(values) == old_texts(values)


def test_empty_and_two_dimensional():
    assert shortest_texts(np.zeros((0, 4), np.float32)) == []
    assert shortest_texts(np.array([[1.5, -2.25], [0.1, 3e-7]], np.float32)) == ["1.5", "-2.25", "0.1", "3e-07"]


def old_dump_csv(values: np.ndarray, rows: range, cols: range) -> str:
    """The CSV as ``dump --csv`` wrote it before streaming: csv.writer and ``fmt`` per value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("row", "col", "value"))
    for i, r in enumerate(rows):
        writer.writerows((r, c, fmt(values[i, j])) for j, c in enumerate(cols))
    return out.getvalue()


def dump(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "layoutscope", "dump", *args, "--csv", "-"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def test_dump_csv_bytes_match_the_old_writer_on_the_sample():
    model = str(sample_path(TINY_LLAMA))
    with layoutscope.open(model) as m:
        whole = m.tensor("blk.0.attn_k.weight").dequantize()
        window = m.tensor("output.weight").dequantize(slice(990, 1000))[:, 100:200]
    assert dump(model, "blk.0.attn_k.weight") == old_dump_csv(whole, range(whole.shape[0]), range(whole.shape[1]))
    assert dump(model, "output.weight", "--rows", "990:", "--cols", "100:200") == old_dump_csv(
        window, range(990, 1000), range(100, 200))


def test_dump_csv_bytes_match_on_special_values_across_blocks(tmp_path):
    # 3 rows of 40,000 values: two streamed blocks, with every special value in each row.
    rng = np.random.default_rng(4)
    values = (rng.standard_normal((3, 40_000)) * 0.05).astype(np.float32)
    values[:, : SPECIAL.size] = SPECIAL
    path = tmp_path / "special.gguf"
    GGUFBuilder().add("general.architecture", STRING, "llama").add_tensor(
        "special.weight", (40_000, 3), 0, values.tobytes()).write(path)
    assert dump(str(path), "special.weight") == old_dump_csv(values, range(3), range(40_000))
