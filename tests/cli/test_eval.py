"""``layoutscope eval`` end to end, in subprocesses on the bundled tiny model (never a download), table-driven.

Every error case asserts what a user relies on: the exit code, ONE stderr line
(``layoutscope: error: …``) with the words that say why, no traceback, no
Python warning, nothing on stdout, and the model file untouched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pytest

from layoutscope.inference.text import read_text
from layoutscope.samples import ALL_TYPES, TINY_LLAMA, path as sample_path

#: Short chunks, one thread (the machine's cores are shared): every case runs in seconds.
FAST = ("--ctx", "64", "--chunks", "1", "--threads", "1")


def run_cli(argv: Sequence[str], *, cwd, env: Optional[dict] = None, stdin: str = "",
            timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m layoutscope ARGV`` with warnings shown (so a stray one fails the case)."""
    return subprocess.run([sys.executable, "-m", "layoutscope", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, input=stdin,
                          env={**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default", **(env or {})})


def assert_clean(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Warning:" not in result.stderr, result.stderr


def strict_json(text: str):
    """Parse JSON refusing NaN and Infinity literals (a report must be readable by any JSON parser)."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def work(tmp_path):
    """A directory holding a copy of the tiny model (``tiny.gguf``) and the files cases name."""
    (tmp_path / "tiny.gguf").write_bytes(sample_path(TINY_LLAMA).read_bytes())
    (tmp_path / "all-types.gguf").write_bytes(sample_path(ALL_TYPES).read_bytes())
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text(" \n\n\t ")
    (tmp_path / "short.txt").write_text("Hello there, this is a short text.")
    return tmp_path


# == the error paths ====================================================================

@dataclass(frozen=True)
class Refusal:
    id: str
    argv: tuple
    code: int
    words: tuple
    stdin: str = ""


REFUSALS = [
    Refusal("unloadable-model", ("eval", "all-types.gguf", *FAST), 2,
            ("llama.cpp cannot load this model", "unknown model architecture")),
    Refusal("empty-text-file", ("eval", "tiny.gguf", "--text", "empty.txt", *FAST), 2, ("the text is empty",)),
    Refusal("blank-text-file", ("eval", "tiny.gguf", "--text", "blank.txt", *FAST), 2, ("the text is empty",)),
    Refusal("empty-stdin", ("eval", "tiny.gguf", "--text", "-", *FAST), 2, ("standard input", "the text is empty")),
    Refusal("unreadable-text", ("eval", "tiny.gguf", "--text", "missing.txt", *FAST), 2,
            ("missing.txt", "cannot read it")),
    Refusal("text-is-a-directory", ("eval", "tiny.gguf", "--text", ".", *FAST), 2, ("cannot read it",)),
    Refusal("unknown-selector", ("eval", "tiny.gguf", "--npu", "nonesuch", *FAST), 2,
            ("--npu nonesuch", "matches none of the 29")),
    Refusal("bad-regex", ("eval", "tiny.gguf", "--npu", "blk.[", *FAST), 2, ("not a valid regex",)),
    Refusal("seeds-without-signs", ("eval", "tiny.gguf", "--seeds", "3", *FAST), 2,
            ("--seeds 3", "only the HADAMARD pipelines draw random signs")),
    Refusal("seeds-zero", ("eval", "tiny.gguf", "--pipeline", "W8A8_HADAMARD", "--seeds", "0", *FAST), 2,
            ("--seeds",)),
    Refusal("layers-out-of-range", ("eval", "tiny.gguf", "--npu", "layers:2-4", *FAST), 2, ("layers 0-3",)),
    Refusal("layers-reversed", ("eval", "tiny.gguf", "--npu", "layers:3-1", *FAST), 2, ("A <= B",)),
    Refusal("first-beyond-layers", ("eval", "tiny.gguf", "--npu", "first:5", *FAST), 2, ("K from 0 to 4",)),
    Refusal("ctx-above-the-model", ("eval", "tiny.gguf", "--ctx", "257", "--chunks", "1"), 2,
            ("--ctx 257", "context of 256")),
    Refusal("ctx-1", ("eval", "tiny.gguf", "--ctx", "1"), 2, ("--ctx",)),
    Refusal("ctx-0", ("eval", "tiny.gguf", "--ctx", "0"), 2, ("--ctx",)),
    Refusal("chunks-0", ("eval", "tiny.gguf", "--chunks", "0"), 2, ("--chunks",)),
    Refusal("kld-ok-0", ("eval", "tiny.gguf", "--kld-ok", "0", *FAST), 2, ("--kld-ok",)),
    Refusal("kld-ok-nan", ("eval", "tiny.gguf", "--kld-ok", "nan", *FAST), 2, ("--kld-ok",)),
    Refusal("kld-ok-negative", ("eval", "tiny.gguf", "--kld-ok=-1", *FAST), 2, ("--kld-ok",)),
    Refusal("unknown-backend", ("eval", "tiny.gguf", "--backend", "gpu", *FAST), 2, ("--backend",)),
    Refusal("unknown-sweep", ("eval", "tiny.gguf", "--sweep", "last-k", *FAST), 2, ("--sweep",)),
    Refusal("unknown-score", ("eval", "tiny.gguf", "--score", "half", *FAST), 2, ("--score",)),
    Refusal("csv-onto-the-model", ("eval", "tiny.gguf", "--csv", "tiny.gguf", *FAST), 2,
            ("refused", "input model", "never writes")),
    Refusal("json-file-onto-the-model", ("eval", "tiny.gguf", "--json-file", "tiny.gguf", *FAST), 2,
            ("refused", "input model")),
    Refusal("npu-unavailable", ("eval", "tiny.gguf", "--backend", "npu", *FAST), 1, ("librknnrt",)),
    Refusal("hybrid-space", ("eval", "tiny.gguf", "--hybrid", "W8A8_STANDARD, W4A4_HADAMARD", *FAST), 2,
            ("' W4A4_HADAMARD' has a space", "the backend would keep those tensors on the CPU")),
    Refusal("hybrid-empty-token", ("eval", "tiny.gguf", "--hybrid", "W8A8_STANDARD,,CPU_STANDARD", *FAST), 2,
            ("empty token", "cycle W8A8_STANDARD,CPU_STANDARD")),
    Refusal("hybrid-no-name", ("eval", "tiny.gguf", "--hybrid", ",", *FAST), 2, ("no pipeline name",)),
    Refusal("hybrid-with-npu", ("eval", "tiny.gguf", "--hybrid", "default", "--npu", "first:1", *FAST), 2,
            ("--hybrid", "drop --npu")),
    Refusal("hybrid-with-pipeline", ("eval", "tiny.gguf", "--hybrid", "default", "--pipeline", "W8A8_STANDARD",
                                     *FAST), 2, ("--hybrid", "drop --pipeline")),
    Refusal("hybrid-hadamard-without-default", ("eval", "tiny.gguf", "--hybrid", "W8A8_STANDARD",
                                                "--hybrid-hadamard", *FAST), 2,
            ("--hybrid-hadamard", "add --hybrid default", "write W8A8_HADAMARD in it")),
    Refusal("hybrid-hadamard-alone", ("eval", "tiny.gguf", "--hybrid-hadamard", *FAST), 2,
            ("--hybrid-hadamard", "add --hybrid default")),
    Refusal("pipelines-without-sweep", ("eval", "tiny.gguf", "--pipelines", "W8A8_STANDARD", *FAST), 2,
            ("--pipelines", "add --sweep pipelines")),
    Refusal("any-type-without-sweep", ("eval", "tiny.gguf", "--any-type", *FAST), 2,
            ("--any-type", "add --sweep pipelines")),
    Refusal("sweep-unknown-pipeline", ("eval", "tiny.gguf", "--sweep", "pipelines", "--pipelines",
                                       "W8A8_STANDARD,W3A3_STANDARD", *FAST), 2, ("--pipelines", "W3A3_STANDARD")),
    Refusal("sweep-classic", ("eval", "tiny.gguf", "--sweep", "pipelines", "--pipelines", "classic", *FAST), 2,
            ("--pipelines", "not a community pipeline")),
    Refusal("sweep-with-hybrid", ("eval", "tiny.gguf", "--sweep", "pipelines", "--hybrid", "default", *FAST), 2,
            ("--hybrid", "drop --sweep")),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.id for c in REFUSALS])
def test_refusals_are_one_line(work, case: Refusal):
    env = {"LAYOUTSCOPE_RKNNRT": str(work / "no-such-librknnrt.so")} if case.id == "npu-unavailable" else {}
    before = digest(work / "tiny.gguf")
    result = run_cli(case.argv, cwd=work, stdin=case.stdin, env=env)
    assert_clean(result)
    assert result.returncode == case.code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("layoutscope: error: "), lines[0]
    for word in case.words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""
    assert digest(work / "tiny.gguf") == before
    assert sorted(p.name for p in work.iterdir() if p.suffix in (".csv", ".tmp")) == []


# == what a run reports ===================================================================

ISSUE_KEYS = {"tokens", "npu", "kld", "top1_agreement", "ppl", "layers", "weights"}


def test_null_test_on_the_cli(work):
    result = run_cli(("eval", "tiny.gguf", "--backend", "cpu", "--chunks", "2", "--ctx", "64", "--threads", "1",
                      "--json"), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    data = strict_json(result.stdout)
    assert data["complete"] and data["chunks"] == {"done": 2, "total": 2}
    assert data["tokens"] == 2 * 63
    assert data["npu"]["backend"] == "cpu" and len(data["npu"]["selected"]) == 29
    assert all(v == 0 for k, v in data["kld"].items()), data["kld"]
    assert data["top1_agreement"] == 1.0 and data["identical_logits"] is True
    assert data["ppl"]["reference"] == data["ppl"]["candidate"]
    assert [row["hidden_nmse"] for row in data["layers"]] == [0, 0, 0, 0]
    assert all(row["nmse"] == 0 for row in data["weights"]) and len(data["weights"]) == 29


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One npu-sim run with a sweep: its text report on stdout, its JSON file and its CSV."""
    work = tmp_path_factory.mktemp("swept")
    (work / "tiny.gguf").write_bytes(sample_path(TINY_LLAMA).read_bytes())
    result = run_cli(("eval", "tiny.gguf", "--backend", "npu-sim", "--npu", "layers:1", "--sweep", "first-k",
                      "--json-file", "report.json", "--csv", "weights.csv", *FAST), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    return result, strict_json((work / "report.json").read_text()), (work / "weights.csv").read_text()


def test_json_keys_are_the_issue_s(swept):
    _, data, _ = swept
    assert ISSUE_KEYS <= set(data)
    assert {"selected", "backend", "options"} <= set(data["npu"])
    assert {"mean", "median", "p99", "max"} <= set(data["kld"])
    assert set(data["ppl"]) == {"reference", "candidate"}
    assert [row["layer"] for row in data["layers"]] == [0, 1, 2, 3]
    assert all({"layer", "hidden_nmse", "hidden_cosine"} <= set(row) for row in data["layers"])
    assert all({"tensor", "nmse"} <= set(row) for row in data["weights"])
    assert all({"k", "kld_mean", "top1_agreement"} <= set(row) for row in data["sweep"])
    assert data["npu"]["backend"] == "npu-sim" and data["npu"]["options"]["mm"] == "int8"


def test_npu_layers_1_moves_nothing_before_layer_1(swept):
    _, data, _ = swept
    selected = data["npu"]["selected"]
    assert len(selected) == 7 and all(name.startswith("blk.1.") for name in selected)
    assert [row["tensor"] for row in data["weights"]] == selected
    drift = [row["hidden_nmse"] for row in data["layers"]]
    assert drift[0] == 0 and all(d > 0 for d in drift[1:])
    assert data["kld"]["mean"] > 0 and not data["identical_logits"]


def test_sweep_in_json(swept):
    _, data, _ = swept
    sweep = data["sweep"]
    assert [row["k"] for row in sweep] == [0, 1, 2, 3, 4]
    assert [row["weights"] for row in sweep] == [0, 7, 14, 21, 28]
    assert sweep[0]["kld_mean"] == 0 and sweep[0]["top1_agreement"] == 1.0
    assert all(row["kld_mean"] > 0 for row in sweep[1:])
    assert data["sweep_kld_ok"] == {"bound": 0.01, "last_k": 4}


def test_csv_rows_are_the_selected_weights(swept):
    _, data, text = swept
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["tensor"] for row in rows] == data["npu"]["selected"]
    assert all(row["layer"] == "1" and float(row["nmse"]) > 0 for row in rows)
    assert [float(row["nmse"]) for row in rows] == pytest.approx([w["nmse"] for w in data["weights"]])


def test_text_report_has_the_sweep_table_and_plots_with_axes(swept):
    result, _, _ = swept
    out = result.stdout
    assert "KL divergence" in out and "top-1 agreement" in out and "perplexity" in out
    lines = out.splitlines()
    for title in ("mean KL divergence against k", "top-1 agreement against k"):
        at = lines.index(title)
        chart = lines[at + 1:at + 11]
        assert sum("┤" in line for line in chart) == 8  # the y axis, one row per level
        assert "└" in chart[8]  # the x axis
        assert chart[9].split() == ["0", "1", "2", "3", "4", "k"]  # its ticks and label
    assert "100%" in out and "0%" in out
    assert "the first 4 layer(s) stay within mean KL divergence 0.01" in out


def test_text_from_stdin(work):
    prose = read_text(None)[0][:2000]
    result = run_cli(("eval", "tiny.gguf", "--backend", "cpu", "--text", "-", "--json", *FAST), cwd=work, stdin=prose)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    data = strict_json(result.stdout)
    assert data["text"] == "standard input" and data["tokens"] == 63


# == Ctrl-C ==================================================================================

@pytest.mark.parametrize("wait_for_chunks", [0, 1], ids=["during-chunk-1", "after-chunk-1"])
def test_ctrl_c_prints_a_valid_partial_report(work, wait_for_chunks):
    (work / "long.txt").write_text(read_text(None)[0] * 3, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "layoutscope", "eval", "tiny.gguf", "--text", "long.txt", "--ctx", "32", "--threads",
         "1", "--sweep", "first-k", "--json", "--csv", "partial.csv"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default"})
    # 1 reference + 6 candidates (all, first:0..4) per chunk: line 7·n + 1 is chunk n+1's reference.
    for _ in range(7 * wait_for_chunks + 1):
        line = proc.stderr.readline()
        assert line.startswith("["), (line, proc.poll())
    assert line.endswith("] reference\n"), line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Warning:" not in err
    assert "interrupted after" in err
    data = strict_json(out)
    total = data["chunks"]["total"]
    assert data["complete"] is False and total > 10
    assert wait_for_chunks <= data["chunks"]["done"] < total
    done = data["chunks"]["done"]
    assert data["tokens"] == 31 * done  # every position of each whole chunk, none of a partial one
    rows = list(csv.DictReader(io.StringIO((work / "partial.csv").read_text())))
    assert [row["tensor"] for row in rows] == [row["tensor"] for row in data["weights"]]
    if done:
        assert len(rows) == 29 and all(row["rows"] == str(32 * done) for row in rows)
        assert data["kld"]["mean"] > 0 and 0 <= data["top1_agreement"] <= 1
        assert [row["k"] for row in data["sweep"]] == [0, 1, 2, 3, 4]
    else:  # nothing measured: no rows, no figures, and not "identical"
        assert rows == [] and data["layers"] == [] and data["identical_logits"] is False
        assert data["kld"]["mean"] == "nan" and data["sweep_kld_ok"]["last_k"] is None


# == the real binding on the fake librknnrt ===================================================

FIGURES = ("tokens", "kld", "top1_agreement", "ppl", "layers", "weights", "sweep")


def test_npu_on_the_fake_librknnrt_equals_npu_sim(work, fake_rknnrt):
    env = {"LAYOUTSCOPE_RKNNRT": str(fake_rknnrt("2.3"))}
    reports = {}
    for backend in ("npu", "npu-sim"):
        result = run_cli(("eval", "tiny.gguf", "--backend", backend, "--npu", "layers:2-3", "--sweep", "first-k",
                          "--json", *FAST), cwd=work, env=env)
        assert_clean(result)
        assert result.returncode == 0, result.stderr
        reports[backend] = strict_json(result.stdout)
    npu, sim = reports["npu"], reports["npu-sim"]
    assert npu["npu"]["backend"] == "npu" and sim["npu"]["backend"] == "npu-sim"
    assert npu["npu"]["selected"] == sim["npu"]["selected"]
    for key in FIGURES:
        assert npu[key] == sim[key], key
    assert npu["kld"]["mean"] > 0


def test_seeds_report_the_spread_over_sign_seeds(work):
    base = ("eval", "tiny.gguf", "--backend", "npu-sim", "--pipeline", "W8A8_HADAMARD", "--json", *FAST)
    many = run_cli((*base, "--seed", "5", "--seeds", "3"), cwd=work)
    assert_clean(many)
    assert many.returncode == 0, many.stderr
    data = strict_json(many.stdout)
    runs, spread = data["seeds"]["runs"], data["seeds"]["spread"]
    assert [r["seed"] for r in runs] == [5, 6, 7]
    # The first run is the main candidate itself, and each seed's run is what --seed alone gives.
    assert runs[0]["kld_mean"] == data["kld"]["mean"]
    alone = strict_json(run_cli((*base, "--seed", "7"), cwd=work).stdout)
    assert runs[2]["kld_mean"] == alone["kld"]["mean"] and runs[2]["top1_agreement"] == alone["top1_agreement"]
    klds = [r["kld_mean"] for r in runs]
    assert len(set(klds)) == 3  # other signs, other rounding: the seeds do move the result
    assert spread["kld_mean"]["min"] == min(klds) and spread["kld_mean"]["max"] == max(klds)
    assert spread["kld_mean"]["std"] > 0


# == --hybrid ==============================================================================

def _eval_json(work, *argv):
    result = run_cli(("eval", "tiny.gguf", "--json", *FAST, *argv), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    return strict_json(result.stdout)


def test_a_one_name_pattern_is_that_pipeline_on_every_weight(work):
    hybrid = _eval_json(work, "--hybrid", "W8A8_STANDARD")
    plain = _eval_json(work, "--pipeline", "W8A8_STANDARD")
    assert hybrid["kld"] == plain["kld"] and hybrid["kld"]["mean"] > 0  # bit for bit
    assert sorted(hybrid["npu"]["selected"]) == sorted(plain["npu"]["selected"])
    table = hybrid["hybrid"]
    assert table["pattern"] == "W8A8_STANDARD" and "UNCONFIRMED" in table["order_source"]
    assert [row["seq"] for row in table["assignments"]] == list(range(29))
    assert {row["pipeline"] for row in table["assignments"]} == {"W8A8_STANDARD"}


def test_a_cpu_only_pattern_changes_nothing(work):
    data = _eval_json(work, "--hybrid", "CPU_STANDARD,NOT_A_PIPELINE")
    assert data["kld"]["mean"] == 0 and data["identical_logits"] and data["npu"]["selected"] == []
    assert {row["pipeline"] for row in data["hybrid"]["assignments"]} == {"CPU"}


def test_the_text_report_prints_the_table_and_says_unconfirmed(work):
    result = run_cli(("eval", "tiny.gguf", *FAST, "--hybrid", "W8A8_STANDARD,CPU_STANDARD"), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    assert "15 of 29 matmul weights" in result.stdout
    assert "UNCONFIRMED" in result.stdout
    table = result.stdout.split("hybrid pattern 'W8A8_STANDARD,CPU_STANDARD'", 1)[1].splitlines()
    assert table[2].split() == ["0", "output.weight", "Q8_0", "W8A8_STANDARD"]
    assert table[3].split()[:4] == ["1", "blk.0.attn_q.weight", "Q8_0", "CPU"]
    assert "'CPU_STANDARD' is no pipeline name" in table[3]
