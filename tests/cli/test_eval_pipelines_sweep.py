"""``eval --sweep pipelines``: the community backend's published per-pipeline table, measured on the user's model.

Each row must be what ``eval --pipeline P`` measures on the same weights (the
sweep is no separate code path), the null test must give zeros, and the
options that narrow the sweep must do what they say.
"""

from __future__ import annotations

import pytest

from test_eval import FAST, assert_clean, run_cli, strict_json, work  # noqa: F401 (work: a fixture)

from layoutscope.backend.community.pipelines import PIPELINE_NAMES


def _json(work, *argv):
    result = run_cli(("eval", "tiny.gguf", "--json", *FAST, *argv), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    return strict_json(result.stdout)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One ``--sweep pipelines`` of all six pipelines on the tiny model (JSON)."""
    from layoutscope.samples import TINY_LLAMA, path as sample_path

    work = tmp_path_factory.mktemp("pipelines")
    (work / "tiny.gguf").write_bytes(sample_path(TINY_LLAMA).read_bytes())
    return work, _json(work, "--sweep", "pipelines")


def test_one_row_per_pipeline_in_the_backend_s_order(swept):
    _, data = swept
    assert [row["pipeline"] for row in data["pipelines"]] == list(PIPELINE_NAMES)
    for row in data["pipelines"]:
        assert set(row) == {"pipeline", "weights", "kld_mean", "kld_p99", "top1_agreement", "ppl", "delta_ppl"}
        assert row["weights"] == 29  # the tiny model is all Q8_0: every matmul weight is eligible
        assert row["delta_ppl"] == pytest.approx(row["ppl"] - data["ppl"]["reference"])
    assert data["pipelines_offload"]["kept"] == [] and len(data["pipelines_offload"]["weights"]) == 29


def test_a_row_is_what_eval_pipeline_measures(swept):
    work, data = swept
    rows = {row["pipeline"]: row for row in data["pipelines"]}
    for pipeline in ("W8A8_STANDARD", "W4A4_HADAMARD"):
        alone = _json(work, "--pipeline", pipeline)
        assert rows[pipeline]["kld_mean"] == alone["kld"]["mean"] > 0  # bit for bit
        assert rows[pipeline]["kld_p99"] == alone["kld"]["p99"]
        assert rows[pipeline]["top1_agreement"] == alone["top1_agreement"]


def test_int4_is_worse_than_int8_and_the_bound_says_which_pass(swept):
    _, data = swept
    rows = {row["pipeline"]: row for row in data["pipelines"]}
    assert rows["W4A4_STANDARD"]["kld_mean"] > 10 * rows["W8A8_STANDARD"]["kld_mean"]
    within = data["pipelines_kld_ok"]
    assert within["bound"] == 0.01
    assert within["within"] == [p for p in PIPELINE_NAMES if rows[p]["kld_mean"] <= 0.01]
    assert "W8A8_STANDARD" in within["within"] and "W4A4_STANDARD" not in within["within"]


def test_the_null_test_gives_zero_for_every_pipeline(work):
    data = _json(work, "--sweep", "pipelines", "--backend", "cpu", "--pipelines", "W4A4_STANDARD,W8A8_HADAMARD")
    assert [row["pipeline"] for row in data["pipelines"]] == ["W4A4_STANDARD", "W8A8_HADAMARD"]
    assert all(row["kld_mean"] == 0 and row["top1_agreement"] == 1 for row in data["pipelines"])


def test_pipelines_narrows_and_orders_the_sweep_and_npu_narrows_the_weights(work):
    data = _json(work, "--sweep", "pipelines", "--pipelines", "w8a8_hadamard,W16A16_STANDARD,W8A8_HADAMARD",
                 "--npu", "layers:0-1")
    assert [row["pipeline"] for row in data["pipelines"]] == ["W8A8_HADAMARD", "W16A16_STANDARD"]
    assert {row["weights"] for row in data["pipelines"]} == {14}  # 7 weights in each of 2 layers
    assert all(name.startswith(("blk.0.", "blk.1.")) for name in data["pipelines_offload"]["weights"])


def test_the_text_report_prints_the_published_table(work):
    result = run_cli(("eval", "tiny.gguf", *FAST, "--sweep", "pipelines", "--pipelines",
                      "W8A8_STANDARD,W8A8_HADAMARD"), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    text = result.stdout.split("sweep: each community pipeline on the 29 weight(s)", 1)[1].splitlines()
    assert text[1].split() == ["pipeline", "weights", "KLD", "mean", "KLD", "p99", "top-1", "PPL", "ΔPPL"]
    assert text[2].split()[:2] == ["W8A8_STANDARD", "29"] and text[3].split()[:2] == ["W8A8_HADAMARD", "29"]
    assert "within mean KL divergence 0.01 (--kld-ok): W8A8_STANDARD, W8A8_HADAMARD" in result.stdout
    assert "HADAMARD rows use sign seed 0" in result.stdout
