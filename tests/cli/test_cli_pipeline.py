"""``--pipeline``: the community backend's pipelines from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from layoutscope.samples import TINY_LLAMA, path

TINY = str(path(TINY_LLAMA))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layoutscope", *args], capture_output=True, text=True, timeout=300)


def test_compare_runs_a_community_pipeline_end_to_end():
    r = run("compare", TINY, "blk.0.ffn_down.weight", "--pipeline", "W8A8_HADAMARD", "--seed", "7",
            "--w8-calib", "mse", "--rows", "4")
    assert r.returncode == 0, r.stderr
    assert "rk-community vs llama.cpp" in r.stdout  # the default input is real: llama.cpp is the reference and "W8A8_HADAMARD" in r.stdout and "seed 7" in r.stdout
    assert "forks: w8-calib mse" in r.stdout and "K_op=1024" in r.stdout and "verdict" in r.stdout
    assert "UNCONFIRMED: upstream seeds the signs" in r.stdout and "UNCONFIRMED: the mse/KL searches" in r.stdout


def test_compare_json_carries_the_pipeline_details():
    r = run("compare", TINY, "blk.0.ffn_up.weight", "--pipeline", "w4a4_standard", "--json", "--rows", "2")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)["details"]["backend"]
    assert d["pipeline"] == "W4A4_STANDARD" and d["n_segments"] == [256, 256, 192]
    assert d["options"]["int4_weight_scale"] == "block-kl" and d["unconfirmed"]


def test_an_unknown_pipeline_is_one_line_and_exit_2():
    r = run("compare", TINY, "blk.0.ffn_up.weight", "--pipeline", "W8A8_FANCY")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "--pipeline 'W8A8_FANCY': choose from classic, W16A16_STANDARD" in r.stderr


def test_the_real_npu_is_refused_for_a_community_pipeline_and_diagnose_refuses_it(tmp_path):
    r = run("compare", TINY, "blk.0.ffn_up.weight", "--pipeline", "W8A8_STANDARD", "--backend", "npu")
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "emulated only" in r.stderr
    np.save(tmp_path / "x.npy", np.ones((2, 256), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.ones((2, 704), dtype=np.float32))
    r = run("diagnose", TINY, "blk.0.ffn_up.weight", "--pipeline", "W8A8_STANDARD", "--observed",
            str(tmp_path / "y.npy"), "--input", str(tmp_path / "x.npy"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "classic NPU path" in r.stderr


def test_a_bad_fork_value_is_one_line_and_exit_2():
    r = run("compare", TINY, "blk.0.ffn_up.weight", "--pipeline", "W4A4_STANDARD", "--weight-clip", "1.5")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--weight-clip '1.5'" in r.stderr


def test_a_soc_the_community_backend_does_not_define_is_one_line_and_exit_2():
    r = run("compare", TINY, "blk.0.ffn_up.weight", "--pipeline", "W8A8_STANDARD", "--platform", "rk3566")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "rk3588 and rk3576" in r.stderr


def test_the_dialog_names_the_pipeline_when_the_soc_cannot_run_it():
    from layoutscope.measure.settings import RunSettings
    from layoutscope.measure.settings_form import combination_problem

    field, message = combination_problem(RunSettings(platform="rk3566", pipeline="W4A4_HADAMARD"))
    assert field == "pipeline" and "rk3588 and rk3576" in message
    assert combination_problem(RunSettings(platform="rk3576", pipeline="W4A4_HADAMARD", mm="int4")) is None


def test_scan_runs_a_pipeline_and_refuses_a_scheme_sweep_with_it():
    r = run("scan", TINY, "--pipeline", "W8A8_HADAMARD", "--filter", "blk.0.attn", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["options"]["pipeline"] == "W8A8_HADAMARD" and data["backend"] == "rk-community"
    r = run("scan", TINY, "--pipeline", "W8A8_HADAMARD", "--weight-quant", "per-channel,per-tensor")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "one pipeline at a time" in r.stderr
