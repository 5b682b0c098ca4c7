"""``layoutscope doctor`` and ``compare --backend npu`` as a user runs them, on and off a (fake) board."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from layoutscope.samples import TINY_LLAMA, path

TINY = str(path(TINY_LLAMA))


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("LAYOUTSCOPE_RKNNRT", "LAYOUTSCOPE_SYSROOT")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "layoutscope", *args], capture_output=True, text=True,
                          timeout=300, env=full)


def board(root, soc=b"xunlong,orangepi-5\0rockchip,rk3588s\0", driver="RKNPU driver: v0.9.8\n"):
    """A fake /proc and /sys tree of a board."""
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/compatible").write_bytes(soc)
    if driver is not None:
        (root / "sys/kernel/debug/rknpu").mkdir(parents=True)
        (root / "sys/kernel/debug/rknpu/version").write_text(driver)
    return root


def lines_of(stdout: str) -> dict:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("["):
            name = line[7:].split(":", 1)[0]
            out.setdefault(name, line)
    return out


def test_off_the_board_every_line_says_what_to_do(tmp_path):
    r = run("doctor", env={"LAYOUTSCOPE_SYSROOT": str(tmp_path), "LAYOUTSCOPE_RKNNRT": str(tmp_path / "none.so")})
    assert r.returncode == 1, r.stderr
    lines = lines_of(r.stdout)
    assert set(lines) >= {"SoC", "NPU driver", "librknnrt", "matmul types", "libggml"}
    for name, line in lines.items():
        assert line.startswith("[ ok ]") or "→" in line, line
    assert "npu-sim" in lines["SoC"] and "none.so: no such file" in lines["librknnrt"]
    assert "NPU not usable here" in r.stdout


def test_on_a_board_with_a_runtime_the_types_are_probed(tmp_path, fake_rknnrt):
    env = {"LAYOUTSCOPE_SYSROOT": str(board(tmp_path)), "LAYOUTSCOPE_RKNNRT": str(fake_rknnrt("2.3"))}
    r = run("doctor", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = lines_of(r.stdout)
    assert "rk3588s → platform rk3588" in lines["SoC"] and "rknpu 0.9.8" in lines["NPU driver"]
    assert "librknnrt 2.3.2" in lines["librknnrt"] and "API generation 2.1+" in lines["librknnrt"]
    for mm in ("int8", "int8-fp32", "fp16", "fp16-fp16", "int8-int8", "int4"):
        assert lines[f"matmul {mm}"].startswith("[ ok ]") and "matches the emulator" in lines[f"matmul {mm}"]
    assert "NPU usable" in r.stdout

    data = json.loads(run("doctor", "--json", env=env).stdout)
    assert data["npu_usable"] is True and data["platform"] == "rk3588"
    assert {c["name"] for c in data["checks"]} >= {"SoC", "NPU driver", "librknnrt", "matmul int4"}


def test_an_old_runtime_lacks_types_and_a_wrong_table_is_a_finding(tmp_path, fake_rknnrt):
    env = {"LAYOUTSCOPE_SYSROOT": str(board(tmp_path, driver=None)), "LAYOUTSCOPE_RKNNRT": str(fake_rknnrt("1.5"))}
    r = run("doctor", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = lines_of(r.stdout)
    assert lines["matmul int4"].startswith("[info]") and "update librknnrt" in lines["matmul int4"]
    assert lines["NPU driver"].startswith("[fail]") and "rknpu driver" in lines["NPU driver"]

    # The runtime tiles B as RK356x does while we probe as rk3588: reported, not used silently.
    r = run("doctor", env={**env, "FAKE_RKNN_PLATFORM": "rk3566"})
    assert r.returncode == 1
    assert "FINDING: io_attr.B" in r.stdout and "differs from the emulator" in r.stdout


def test_compare_runs_on_the_npu_when_there_is_one(tmp_path, fake_rknnrt):
    env = {"LAYOUTSCOPE_RKNNRT": str(fake_rknnrt("2.3"))}
    r = run("compare", TINY, "output.weight", "--rows", "3", env=env)
    assert r.returncode == 0, r.stderr
    # The default input is real now, so the reference is llama.cpp's own output.
    assert "npu vs llama.cpp" in r.stdout and "runtime: librknnrt 2.3.2" in r.stdout and "ran npu-sim" not in r.stdout
    r = run("compare", TINY, "output.weight", "--npu-core", "2", "--json", env=env)
    assert json.loads(r.stdout)["details"]["backend"]["npu_core"] == 2


@pytest.mark.parametrize("args,code,words", [
    (["compare", TINY, "output.weight", "--backend", "npu", "--mm", "int4"], 1, "RKNN_INT4_MM_INT4_TO_INT16"),
    (["doctor", "--platform", "rk9999"], 2, "--platform 'rk9999': choose from rk3588"),
])
def test_npu_errors_are_one_line(fake_rknnrt, args, code, words):
    r = run(*args, env={"LAYOUTSCOPE_RKNNRT": str(fake_rknnrt("1.5"))})
    assert r.returncode == code, r.stdout + r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and words in line
