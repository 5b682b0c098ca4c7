"""Bulk decoding: ggml's to_float and the numpy decoders agree bit for bit, so a scan's results do not depend on which ran."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import bulk_decode
from layoutscope.formats import all_types

GGML_DECODED = [t for t in all_types() if not t.removed and t.can_dequantize and t.is_weight_type]


@dataclasses.dataclass
class BlockWeight:
    """A weight of random blocks of one type, held in memory (TensorLike)."""

    type: object
    blocks: np.ndarray  # uint8 (rows, row bytes)
    byteorder: str = "<"
    name: str = "random.weight"
    n_dims: int = 2

    @property
    def n_rows(self):
        return self.blocks.shape[0]

    @property
    def ne(self):
        return (self.blocks.shape[1] // self.type.type_size * self.type.block_size, self.n_rows)

    def raw(self, rows=None):
        return self.blocks if rows is None else self.blocks[rows]

    def dequantize(self, rows=None):
        raw = self.raw(rows)
        return self.type.dequantize(raw.reshape(-1), self.byteorder).reshape(raw.shape[0], -1)

    def require_data(self, action):
        return None


def _random_weight(t, rows=6, blocks_per_row=4, seed=0):
    rng = np.random.default_rng(seed + t.id)
    return BlockWeight(t, rng.integers(0, 256, size=(rows, blocks_per_row * t.type_size), dtype=np.uint8))


def _bits(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), np.float32(np.nan), values).view(np.uint32)  # any NaN is one NaN


@pytest.mark.parametrize("t", GGML_DECODED, ids=[t.name for t in GGML_DECODED])
def test_ggml_and_numpy_decode_every_weight_type_alike(t):
    weight = _random_weight(t)
    for rows in (None, slice(2, 5)):
        ggml = bulk_decode.dequantize_rows(weight, rows, decoder="ggml")
        twin = bulk_decode.dequantize_rows(weight, rows, decoder="numpy")
        assert ggml.dtype == np.float32 and ggml.shape == twin.shape
        assert np.array_equal(_bits(ggml), _bits(twin)), t.name


def test_auto_picks_ggml_where_faster_and_numpy_elsewhere():
    by_name = {t.name: t for t in GGML_DECODED}
    assert bulk_decode.ggml_decodes(_random_weight(by_name["Q8_0"]))
    assert not bulk_decode.ggml_decodes(_random_weight(by_name["IQ2_XXS"]))  # numpy's grid decoder is faster
    assert not bulk_decode.ggml_decodes(dataclasses.replace(_random_weight(by_name["F16"]), byteorder=">"))


def test_an_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder must be one of"):
        bulk_decode.dequantize_rows(_random_weight(GGML_DECODED[0]), decoder="fast")


@pytest.mark.parametrize("mm", ["int8", "int8-fp32"])  # the streamed sweep, and the whole pipeline
def test_a_scan_is_the_same_whichever_decoder_ran(tiny_llama_path, monkeypatch, mm):
    from layoutscope.analyses.scan import ScanOptions, Scanner

    reports = {}
    for decoder in ("ggml", "numpy"):
        monkeypatch.setattr(bulk_decode, "DECODER", decoder)
        with layoutscope.open(tiny_llama_path) as model:
            report = Scanner(model, ScanOptions(backend="npu-sim", mm=mm, filter="blk.0")).run()
        reports[decoder] = sorted((r.tensor, r.weight_nmse, r.nmse, r.max_abs) for r in report.rows)
    assert reports["ggml"] and reports["ggml"] == reports["numpy"]
