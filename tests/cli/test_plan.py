"""``layoutscope plan`` and ``eval --plan`` end to end, in subprocesses on the bundled tiny model.

What a user relies on: the plan is verified by an eval and re-verified bit for
bit by ``eval --plan``; its RKNPU_HYBRID line gives the same run through
``eval --hybrid``; an infeasible budget is a result (exit 0, or 3 with
``--fail-on infeasible``); bad input is one line and exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layoutscope.samples import ALL_TYPES, TINY_LLAMA, path as sample_path
from test_eval import assert_clean, digest, run_cli, strict_json

#: One short chunk, one thread: a plan of the tiny model runs in seconds.
FAST = ("--ctx", "64", "--chunks", "1", "--threads", "1")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("plan")
    (work / "tiny.gguf").write_bytes(sample_path(TINY_LLAMA).read_bytes())
    (work / "all-types.gguf").write_bytes(sample_path(ALL_TYPES).read_bytes())
    return work


@pytest.fixture(scope="module")
def planned(work):
    """A plan of the tiny model per weight: its JSON report, the plan file, the CSV, the text report."""
    result = run_cli(("plan", "tiny.gguf", "--unit", "weight", "--kld-budget", "0.02", "-o", "plan.json",
                      "--json-file", "report.json", "--csv", "sensitivity.csv", *FAST), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    return (result, strict_json((work / "report.json").read_text()), json.loads((work / "plan.json").read_text()),
            (work / "sensitivity.csv").read_text())


def test_the_plan_is_verified_within_budget_and_offloads_something(planned):
    _, report, plan, _ = planned
    assert report["answered"] and report["feasible"]
    measured = report["plan"]["measured"]
    assert 0 < measured["kld"]["mean"] <= 0.02
    assert 0 < report["plan"]["share"]["bytes"] <= 1 and 0 < report["plan"]["share"]["macs"] <= 1
    assert plan["assignment"] == report["plan"]["assignment"] and plan["assignment"]
    assert plan["measured"]["kld"]["mean"] == measured["kld"]["mean"]
    # every accepted step of the search was within budget, the last of them is the plan
    accepted = [s for s in report["search"]["steps"] if s["accepted"]]
    assert all(s["kld_mean"] <= 0.02 for s in accepted)


def test_the_text_report_leads_with_the_answer(planned):
    result, report, _, _ = planned
    text = result.stdout
    assert "answer (verified by eval):" in text
    assert f"{len(report['plan']['assignment'])} of 29 matmul weights on the NPU" in text
    assert "per layer" in text and "blk.0" in text
    assert "RKNPU_HYBRID=" in text and "UNCONFIRMED" in text


def test_eval_plan_re_verifies_bit_for_bit(work, planned):
    _, report, _, _ = planned
    result = run_cli(("eval", "tiny.gguf", "--plan", "plan.json", "--threads", "1", "--json"), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    data = strict_json(result.stdout)
    assert data["kld"]["mean"] == report["plan"]["measured"]["kld"]["mean"]
    assert sorted(data["npu"]["selected"]) == sorted(report["plan"]["assignment"])
    assert any(n.startswith("plan re-verified: mean KL divergence") and "within" in n for n in data["notices"])
    assert data["plan"] == {"file": "plan.json", "kld_budget": 0.02, "within_budget": True,
                            "kld_mean": data["kld"]["mean"], "recorded_kld_mean": data["kld"]["mean"]}


def test_the_rknpu_hybrid_line_runs_the_same_plan(work, planned):
    _, report, _, _ = planned
    line = report["rknpu_hybrid"]["line"]
    assert line.startswith("RKNPU_HYBRID=")
    pattern = line.split("=", 1)[1]
    result = run_cli(("eval", "tiny.gguf", "--hybrid", pattern, *FAST, "--json"), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    data = strict_json(result.stdout)
    assert data["kld"]["mean"] == report["plan"]["measured"]["kld"]["mean"]


def test_the_sensitivity_csv_has_a_row_per_measurement(planned):
    _, report, _, csv_text = planned
    rows = csv_text.strip().splitlines()
    assert rows[0].split(",")[:6] == ["unit", "layer", "weights", "bytes", "macs", "pipeline"]
    assert len(rows) - 1 == sum(len(s["measured"]) for s in report["sensitivity"])


def test_an_infeasible_budget_is_a_result_not_an_error(work):
    result = run_cli(("plan", "tiny.gguf", "--kld-budget", "1e-12", "--pipelines", "W4A4_STANDARD", "--json",
                      *FAST), cwd=work)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    data = strict_json(result.stdout)
    assert not data["feasible"] and not data["answered"] and data["plan"]["assignment"] == {}
    assert data["minimum_alone"]["kld_mean"] > 1e-12 and data["minimum_alone"]["pipeline"] == "W4A4_STANDARD"
    text = run_cli(("plan", "tiny.gguf", "--kld-budget", "1e-12", "--pipelines", "W4A4_STANDARD", *FAST), cwd=work)
    assert "no plan: the budget 1e-12 is infeasible" in text.stdout and "least sensitive unit alone" in text.stdout
    failed = run_cli(("plan", "tiny.gguf", "--kld-budget", "1e-12", "--pipelines", "W4A4_STANDARD",
                      "--fail-on", "infeasible", "-o", "none.json", *FAST), cwd=work)
    assert failed.returncode == 3, failed.stderr
    assert not (work / "none.json").exists()


def write_plan(work: Path, name: str, change) -> str:
    data = json.loads((work / "plan.json").read_text())
    change(data)
    (work / name).write_text(json.dumps(data))
    return name


@pytest.mark.parametrize("argv, words", [
    (("plan", "tiny.gguf", "--kld-budget", "0"), ("--kld-budget",)),
    (("plan", "tiny.gguf", "--kld-budget=-0.1"), ("--kld-budget",)),
    (("plan", "tiny.gguf", "--kld-budget", "nan"), ("--kld-budget",)),
    (("plan", "tiny.gguf", "--kld-budget", "lots"), ("--kld-budget", "expected a number")),
    (("plan", "tiny.gguf", "--pipelines", "W8A8_STANDARD,W9A9"), ("--pipelines", "W9A9")),
    (("plan", "tiny.gguf", "--pipelines", "classic"), ("--pipelines", "not a community pipeline")),
    (("plan", "tiny.gguf", "--objective", "speed"), ("--objective",)),
    (("plan", "tiny.gguf", "--unit", "block"), ("--unit",)),
    (("plan", "tiny.gguf", "-o", "tiny.gguf"), ("refused", "input model")),
    (("plan", "tiny.gguf", "-o", "-"), ("--output",)),
    (("eval", "tiny.gguf", "--plan", "missing.json"), ("--plan missing.json", "no such file")),
    (("eval", "tiny.gguf", "--plan", "plan.json", "--npu", "first:1"), ("--plan", "drop --npu")),
    (("eval", "tiny.gguf", "--plan", "plan.json", "--hybrid", "default"), ("--plan", "drop --hybrid")),
    (("eval", "tiny.gguf", "--plan", "plan.json", "--backend", "cpu"), ("--plan", "drop --backend cpu")),
])
def test_bad_input_is_one_line_and_exit_2(work, planned, argv, words):
    before = digest(work / "tiny.gguf")
    result = run_cli((*argv, *FAST), cwd=work)
    assert_clean(result)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("layoutscope: error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""
    assert digest(work / "tiny.gguf") == before


@pytest.mark.parametrize("name, change, words", [
    ("foreign.json", lambda d: d.update(fingerprint="f" * 64, model="gemma.gguf"),
     ("was made for gemma.gguf", "run layoutscope plan on this model")),
    ("corrupt.json", None, ("corrupt JSON at byte",)),
    ("not-a-plan.json", lambda d: d.pop("format"), ("not a layoutscope plan",)),
    ("bad-pipeline.json", lambda d: d["assignment"].update({next(iter(d["assignment"])): "W3A3"}),
     ("is no pipeline",)),
])
def test_a_foreign_or_corrupt_plan_is_refused(work, planned, name, change, words):
    if change is None:
        (work / name).write_text((work / "plan.json").read_text()[:40])
    else:
        write_plan(work, name, change)
    result = run_cli(("eval", "tiny.gguf", "--plan", name, *FAST), cwd=work)
    assert_clean(result)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_a_plan_for_the_tiny_model_is_refused_for_another_model(work, planned):
    result = run_cli(("eval", "all-types.gguf", "--plan", "plan.json", *FAST), cwd=work)
    assert_clean(result)
    assert result.returncode == 2
    assert "whose tensor table differs" in result.stderr


def test_ctrl_c_stops_the_search_with_no_plan(work):
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "layoutscope", "plan", "tiny.gguf", "--unit", "weight", "-o", "cut.json", "--json",
         *FAST], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default"})
    line = proc.stderr.readline()  # the first evaluation is done: the search is under way
    assert line.startswith("sensitivity"), (line, proc.poll())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "no plan" in err
    assert out == "" and not (work / "cut.json").exists()
