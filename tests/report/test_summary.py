"""Model summaries: the architecture line, sizes, metadata previews and their JSON form."""

from __future__ import annotations

import json

import pytest

import layoutscope
from layoutscope.report.summary import architecture_summary, human_bytes, json_value, preview
from layoutscope.samples import TINY_LLAMA, path as sample_path
from layoutscope.samples.ggufwrite import FLOAT32, FLOAT64, STRING, GGUFBuilder


@pytest.fixture(scope="module")
def tiny():
    with layoutscope.open(sample_path(TINY_LLAMA)) as model:
        yield model


def test_architecture_summary_of_the_sample(tiny):
    summary = architecture_summary(tiny)
    assert summary["architecture"] == "llama"
    assert {k: summary[k] for k in ("layers", "context", "embedding", "vocab")} == {
        "layers": 4, "context": 256, "embedding": 256, "vocab": 1000}
    assert summary["file type"] == "MOSTLY_Q8_0" and summary["tokenizer"] == "llama"
    json.dumps(summary, allow_nan=False)


def test_a_file_without_architecture_or_with_odd_values(tmp_path):
    path = tmp_path / "odd.gguf"
    b = GGUFBuilder()
    b.add("general.name", STRING, "no arch")
    b.add("general.file_type", 4, 999)  # UINT32, not a known file type
    b.write(path)
    with layoutscope.open(path) as model:
        summary = architecture_summary(model)
    assert summary["architecture"] is None and "layers" not in summary
    assert summary["file type"] == "unknown (999)" and summary["name"] == "no arch"


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (47906816, "45.69 MiB"),
                                     (3 << 30, "3.00 GiB"), (5 << 40, "5.00 TiB"), (2 << 50, "2048.00 TiB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def test_preview_of_a_big_array_reads_only_its_head(tiny):
    tokens = tiny.metadata["tokenizer.ggml.tokens"]
    text = preview(tokens, items=3)
    assert text.startswith("[") and text.endswith(", ...] (1000 items)")
    assert text.count(",") == 3  # three items shown, then the ellipsis


def test_preview_of_scalars():
    assert preview("a\nb") == "'a\\nb'"
    assert preview(0.1) == "0.1"  # a float32 metadata value prints as float32, not 0.10000000149
    assert preview("x" * 100, width=10) == "'xxxxxxxx…"
    assert preview(7) == "7"


def test_json_value_summarises_arrays_and_spells_non_finite(tmp_path, tiny):
    value = json_value(tiny.metadata["tokenizer.ggml.tokens"], items=2)
    assert value["element_type"] == "STRING" and value["count"] == 1000 and len(value["head"]) == 2
    path = tmp_path / "nan.gguf"
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "x")
    b.add("x.eps", FLOAT32, float("nan"))
    b.add("x.big", FLOAT64, float("inf"))
    b.write(path)
    with layoutscope.open(path) as model:
        assert json_value(model.metadata["x.eps"]) == "nan" and json_value(model.metadata["x.big"]) == "inf"
