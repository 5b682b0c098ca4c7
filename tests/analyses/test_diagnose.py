"""``diagnose``: every known bug, injected into the emulated pipeline, is recognised as itself."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import get_backend
from layoutscope.backend.rknpu2 import layout
from layoutscope.backend.rknpu2.requantize import requantize
from layoutscope.analyses.diagnose import EXPLAINED_MAX, HYPOTHESES, Context, diagnose, simulate
from layoutscope.analyses.diagnose import _b_kn_swapped, _b_normal, _c_read_normal, _q8_raw_codes  # the injection hooks
from layoutscope.samples import TINY_LLAMA, path
from layoutscope.samples.ggufwrite import GGUFBuilder

TINY = str(path(TINY_LLAMA))
Q8_0, Q4_0, F32 = 8, 2, 0


def x_for(k: int, m: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, k)).astype(np.float32)


def q8_0_bytes(n: int, k: int, seed: int) -> bytes:
    """Random Q8_0 rows: per 32 values an fp16 scale d, then 32 int8 codes."""
    rng = np.random.default_rng(seed)
    blocks = np.zeros((n, k // 32), dtype=[("d", "<f2"), ("qs", "i1", 32)])
    blocks["d"] = rng.uniform(0.001, 0.02, blocks.shape)
    blocks["qs"] = rng.integers(-127, 128, blocks.shape + (32,))
    return blocks.tobytes()


@pytest.fixture(scope="module")
def tiny():
    with layoutscope.open(TINY) as m:
        yield m


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Weights whose matmul the plan splits (N > 4096; K > 4096 on rk3576) and non-Q8_0 weights."""
    rng = np.random.default_rng(7)
    b = GGUFBuilder()
    b.add_tensor("wide.weight", (64, 4160), Q8_0, q8_0_bytes(4160, 64, 1))
    b.add_tensor("deep.weight", (4608, 96), Q8_0, q8_0_bytes(96, 4608, 2))
    b.add_tensor("f32.weight", (64, 96), F32, rng.standard_normal((96, 64)).astype(np.float32).tobytes())
    q4 = np.zeros((96, 2), dtype=[("d", "<f2"), ("qs", "u1", 16)])
    q4["d"], q4["qs"] = 0.01, rng.integers(0, 256, (96, 2, 16))
    b.add_tensor("q4.weight", (64, 96), Q4_0, q4.tobytes())
    target = tmp_path_factory.mktemp("diagnose") / "synthetic.gguf"
    b.write(target)
    with layoutscope.open(target) as m:
        yield m


# -- the core ---------------------------------------------------------------------------------------
def _mm_for(h) -> str:
    return "int8" if h.mm_types is None or "int8" in h.mm_types else h.mm_types[0]


@pytest.mark.parametrize("hid", list(HYPOTHESES))
def test_each_injected_hypothesis_ranks_itself_first(tiny, hid):
    h = HYPOTHESES[hid]
    w = tiny.tensor("blk.0.ffn_up.weight")  # K = 256, N = 704: non-square
    x = x_for(256)
    observed = simulate(w, x, hid, mm=_mm_for(h))
    d = diagnose(w, x, observed, mm=_mm_for(h))
    top = d.ranked[0]
    assert top.id == hid and top.applicable and d.best is top
    assert top.nmse == pytest.approx(0.0, abs=1e-12)
    assert d.runner_up is None, d.runner_up
    if hid != "none":
        assert next(f for f in d.ranked if f.id == "none").nmse > EXPLAINED_MAX


CONFIGS = [
    ("tiny", "output.weight", dict(platform="rk3588", mm="int4", act_quant="per-token")),  # N = 1000: padded tiles
    ("tiny", "blk.1.ffn_up.weight", dict(mm="int8-fp32", weight_quant="per-group:32", act_quant="per-token")),
    ("tiny", "blk.0.ffn_down.weight", dict(platform="rk3566", weight_quant="fixed", act_quant="fixed:4")),
    ("tiny", "blk.2.ffn_down.weight", dict(platform="rk3576", mm="fp16")),
    ("tiny", "blk.0.attn_q.weight", dict(mm="int8-int8")),
    ("synthetic", "wide.weight", dict(platform="rk3588")),  # two N blocks
    ("synthetic", "deep.weight", dict(platform="rk3576", weight_quant="per-tensor")),  # two K segments
]


@pytest.mark.parametrize("source, tensor, options", CONFIGS, ids=[f"{c[1]}-{c[2]}" for c in CONFIGS])
def test_every_applicable_hypothesis_is_recognised_across_configurations(request, source, tensor, options):
    w = request.getfixturevalue(source).tensor(tensor)
    x = x_for(w.ne[0], m=3, seed=5)
    ctx = Context(w, x, **{"platform": "rk3588", "mm": "int8", **options})
    for hid, h in HYPOTHESES.items():  # ten hypotheses, each one matmul
        if h.reason(ctx) is not None:
            continue
        observed = simulate(w, x, hid, **options)
        d = diagnose(w, x, observed, **options)
        if hid != "none" and np.array_equal(observed, ctx.none.y):
            assert not next(f for f in d.ranked if f.id == hid).applicable
            continue
        assert d.ranked[0].id == hid, (hid, [(f.id, f.nmse) for f in d.ranked[:3]])
        assert d.ranked[0].nmse == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("tensor, options", [
    ("blk.0.ffn_up.weight", {}),
    ("output.weight", dict(mm="int4", act_quant="per-token")),
    ("blk.3.ffn_down.weight", dict(mm="int8-fp32", weight_quant="per-group:32")),
    ("blk.0.attn_v.weight", dict(platform="rk3562", mm="fp16")),
    ("blk.1.attn_k.weight", dict(mm="int8-int8", weight_quant="per-tensor")),
])
def test_none_is_npu_sim_bit_for_bit(tiny, tensor, options):
    w = tiny.tensor(tensor)
    x = x_for(w.ne[0], m=5)
    expected = get_backend("npu-sim", **options).matmul(w, x).y
    got = simulate(w, x, "none", **options)
    assert got.dtype == expected.dtype and np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    d = diagnose(w, x, expected, **options)
    assert d.ranked[0].id == "none" and d.ranked[0].nmse == 0.0


def test_not_applicable_hypotheses_rank_last_with_a_reason(tiny):
    w = tiny.tensor("blk.0.attn_q.weight")  # 256 × 256: square
    x = x_for(256, m=1)
    d = diagnose(w, x, simulate(w, x, "b-transposed", platform="rk3566"), platform="rk3566")
    flags = [f.applicable for f in d.ranked]
    assert flags == sorted(flags, reverse=True)  # every applicable one first
    reasons = {f.id: f.reason for f in d.ranked if not f.applicable}
    assert set(reasons) == {"b-tile-rk356x", "kn-swapped", "int4-nibble-swap", "c-native-as-normal", "c-zeros"}
    assert "rk3566 uses the RK356x tiles" in reasons["b-tile-rk356x"]
    assert reasons["c-zeros"].startswith("the observed output is not all zeros")
    assert "square" in reasons["kn-swapped"] and "M = 1" in reasons["c-native-as-normal"]
    assert "--mm int4 only" in reasons["int4-nibble-swap"]
    assert all(f.metrics is None for f in d.ranked if not f.applicable)
    data = d.to_dict()
    assert data["best"] == "b-transposed" and data["hypotheses"][0]["id"] == "b-transposed"
    assert [h["nmse"] for h in data["hypotheses"] if not h["applicable"]] == [None] * 5


def test_raw_bytes_applies_to_quantized_int8_paths_only(synthetic, tiny):
    x = x_for(64)
    for name, why in (("f32.weight", "not block-quantized"), ("q4.weight", "fewer than 8 bits")):
        ctx = Context(synthetic.tensor(name), x)
        assert why in HYPOTHESES["q8_0-raw-bytes"].reason(ctx)
    fp16 = Context(tiny.tensor("blk.0.ffn_up.weight"), x_for(256), mm="fp16")
    assert "int8" in HYPOTHESES["q8_0-raw-bytes"].reason(fp16)
    assert "fp16" in HYPOTHESES["scales-dropped"].reason(fp16)
    with pytest.raises(ValueError, match="does not apply"):
        simulate(synthetic.tensor("f32.weight"), x, "q8_0-raw-bytes")


def test_act_scale_mismatch_reports_its_gains_and_never_outranks_none_without_evidence(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    x = x_for(256)
    y = simulate(w, x, "none").astype(np.float64)
    near = diagnose(w, x, y * np.array([1.004, 0.997, 1.009, 1.0])[:, None])
    assert [f.id for f in near.ranked[:2]] == ["none", "act-scale-mismatch"]
    fit = near.ranked[1]
    assert fit.no_evidence and fit.nmse < near.ranked[0].nmse  # a better fit, yet no evidence
    assert near.best.id == "none" and near.runner_up is None
    gains = np.array([0.5, 1.0, 2.0, 1.25])
    far = diagnose(w, x, y * gains[:, None])
    best = far.best
    assert best.id == "act-scale-mismatch" and not best.no_evidence
    assert np.allclose(best.params["gains"], gains) and "0.5000 .. 2.0000" in best.note


def test_injections_match_their_written_definitions(tiny):
    """Each buggy buffer against its definition written out with explicit index arithmetic."""
    w = tiny.tensor("blk.0.ffn_up.weight")
    ctx = Context(w, x_for(256))
    codes = ctx.prepared.requantized.codes  # (N, K) = (704, 256)
    n, k = codes.shape
    call = ctx.plan.calls[0]
    p = ctx.platform
    # kn-swapped (rknpu2.md §4): dst[i][j][ii][jj] = src[(i·32 + ii)·k + j·32 + jj] with k = N, i < K/32, j < N/32.
    i, j, ii, jj = np.indices((k // 32, n // 32, 32, 32))
    want = codes.reshape(-1)[(i * 32 + ii) * n + j * 32 + jj]
    assert np.array_equal(_b_kn_swapped(ctx, codes, call).reshape(-1), want.reshape(-1))
    # b-normal-as-native: the buffer starts with normal B = Wᵀ, row-major.
    assert np.array_equal(_b_normal(ctx, codes, call)[: k * n], codes.T.reshape(-1))
    # q8_0-raw-bytes: row r of the "codes" is bytes r·K .. r·K + K of the tensor, across 34-byte blocks.
    raw = np.asarray(w.raw()).reshape(-1)
    q = _q8_raw_codes(ctx)
    assert np.array_equal(q[3], raw[3 * k: 4 * k].view(np.int8)) and w.row_bytes == 34 * k // 32
    # c-native-as-normal: C (N/4, M, 4) read as (M, N) row-major.
    c = np.arange(4 * n, dtype=np.int32).reshape(4, n)
    native = layout.pack_c(c, p, "int32")
    assert np.array_equal(_c_read_normal(ctx, native, call).reshape(-1), native.reshape(-1)[: 4 * n])


def test_int4_nibble_swap_is_a_one_sided_pair_swap_along_k(tiny):
    w = tiny.tensor("blk.0.attn_q.weight")
    x = x_for(256)
    ctx = Context(w, x, mm="int4")
    rw = ctx.prepared.requantized
    y = simulate(w, x, "int4-nibble-swap", mm="int4")
    swapped = rw.codes.reshape(256, 128, 2)[:, :, ::-1].reshape(256, 256)  # B's K pairs exchanged
    xq = requantize(x, ctx.backend.act_quant, 4)
    acc = xq.codes.astype(np.int64) @ swapped.T.astype(np.int64)
    want = np.clip(acc, -32768, 32767) * xq.scale.astype(np.float64) * rw.scale.astype(np.float64).reshape(1, -1)
    assert np.array_equal(y, want.astype(np.float32))


def test_observed_shape_and_input_are_checked(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    x = x_for(256)
    with pytest.raises(ValueError, match=r"\(M, N\) = \(4, 704\)"):
        diagnose(w, x, np.zeros((4, 700)))
    with pytest.raises(ValueError, match="real numbers"):
        diagnose(w, x, np.zeros((4, 704), dtype=bool))
    with pytest.raises(ValueError, match="float32"):
        diagnose(w, x.astype(np.float64), np.zeros((4, 704)))


def test_progress_reports_each_hypothesis_and_can_cancel(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    x = x_for(256)
    seen = []
    diagnose(w, x, simulate(w, x, "none"), progress=lambda done, total, hid: seen.append((done, total, hid)))
    assert [s[2] for s in seen] == list(HYPOTHESES) and seen[-1][:2] == (len(HYPOTHESES) - 1, len(HYPOTHESES))

    class Cancelled(Exception):
        pass

    def cancel(done, total, hid):
        if done == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        diagnose(w, x, simulate(w, x, "none"), progress=cancel)


def test_an_all_zero_output_is_the_c_zeros_runtime_bug(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    d = diagnose(w, x_for(256), np.zeros((4, 704), np.float32))
    assert d.best is not None and d.best.id == "c-zeros" and d.best.nmse == 0
    assert d.best.meaning == "C came back all zeros"
    assert "rknn-toolkit2#550" in d.best.fix and "per-tensor" in d.best.fix and "doctor" in d.best.fix
    assert all(f.nmse == float("inf") for f in d.ranked[1:] if f.applicable)
    assert d.summary() == "best match: c-zeros (NMSE 0): C came back all zeros"


def test_c_zeros_does_not_apply_when_the_correct_output_is_zero_too(tmp_path):
    from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

    path = tmp_path / "zero-weight.gguf"
    (GGUFBuilder().add("general.architecture", STRING, "llama")
     .add_tensor("blk.0.ffn_up.weight", (64, 32), 0, np.zeros((32, 64), np.float32).tobytes()).write(path))
    with layoutscope.open(path) as m:
        d = diagnose(m.tensor("blk.0.ffn_up.weight"), x_for(64), np.zeros((4, 32), np.float32))
    c_zeros = next(f for f in d.ranked if f.id == "c-zeros")
    assert not c_zeros.applicable and "none output" in c_zeros.reason
    assert d.best.id == "none"


def test_an_observed_output_with_a_few_nans_is_ranked_on_its_finite_part(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    x = x_for(256)
    observed = simulate(w, x, "b-transposed").copy()
    observed[1, 7] = np.nan
    observed[2, 9] = np.inf
    observed[3, 700] = np.nan
    d = diagnose(w, x, observed)
    assert d.best is not None and d.best.id == "b-transposed"
    assert d.best.metrics.nmse == pytest.approx(0.0, abs=1e-12)
    assert d.best.metrics.measured == 4 * 704 - 3 and d.best.metrics.mismatched == 3
    assert d.observed_nonfinite.count == 3 and d.observed_nonfinite.first == (1, 7)
    assert d.notes == ("the observed output: 3 of 2816 values are not finite (2 NaN, 1 +inf), the first at m 1, "
                       "n 7: the hypotheses are ranked on the 2813 finite values, and no hypothesis reproduces the "
                       "others",)
    data = d.to_dict()
    assert data["observed_nonfinite"]["count"] == 3 and data["best"] == "b-transposed"


def test_an_all_nan_output_is_explained_by_nothing(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    d = diagnose(w, x_for(256), np.full((4, 704), np.nan, np.float32))
    assert d.best is None and "nothing finite is left" in d.notes[0]
    assert "no known bug explains this output" in d.summary()


def test_act_scale_mismatch_fits_its_gains_on_the_finite_part(tiny):
    w = tiny.tensor("blk.0.ffn_up.weight")
    x = x_for(256)
    clean = simulate(w, x, "none", act_quant="per-token") * np.array([[1.0], [2.0], [0.5], [1.0]], np.float32)
    observed = clean.copy()
    observed[1, 3] = np.nan
    d = diagnose(w, x, observed, act_quant="per-token")
    fit = next(f for f in d.ranked if f.id == "act-scale-mismatch")
    assert fit.params["gains"] == pytest.approx([1.0, 2.0, 0.5, 1.0], rel=1e-6)
    assert d.best is fit


# -- the command line ------------------------------------------------------------------------------
def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layoutscope", "diagnose", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def captured(tiny, tmp_path_factory):
    """X and the output of a backend that fed Q8_0 bytes to the NPU as int8, saved as .npy."""
    d = tmp_path_factory.mktemp("captured")
    w = tiny.tensor("blk.0.ffn_down.weight")  # K = 704, N = 256
    x = x_for(704, m=3, seed=9)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", simulate(w, x, "q8_0-raw-bytes"))
    return d


def test_cli_text_names_the_bug_and_the_fix(captured):
    r = run(TINY, "blk.0.ffn_down.weight", "--observed", str(captured / "y.npy"), "--input", str(captured / "x.npy"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    first_row = next(line for line in lines if line.strip().startswith("1 "))
    assert "q8_0-raw-bytes" in first_row and "0.000e+00" in first_row
    assert "best match: q8_0-raw-bytes" in r.stdout
    assert "fix: dequantize Q8_0 (34-byte blocks: d (2 B) + qs (32 B)) and requantize" in r.stdout
    assert "not applicable here:" in r.stdout and "int4-nibble-swap" in r.stdout
    assert "RKNN_INT8_MM_INT8_TO_INT32 (2)" in r.stdout


def test_cli_json_is_ranked_best_first(captured):
    r = run(TINY, "blk.0.ffn_down.weight", "--observed", str(captured / "y.npy"), "--input", str(captured / "x.npy"),
            "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["tensor"] == "blk.0.ffn_down.weight" and data["type"] == "Q8_0" and data["platform"] == "rk3588"
    assert data["mm"] == "int8" and data["best"] == "q8_0-raw-bytes" and [data["M"], data["K"], data["N"]] == [3, 704, 256]
    hyps = data["hypotheses"]
    assert {h["id"] for h in hyps} == set(HYPOTHESES)
    assert hyps[0]["id"] == "q8_0-raw-bytes" and hyps[0]["nmse"] == 0.0 and hyps[0]["snr_db"] == "inf"
    applicable = [h["nmse"] for h in hyps if h["applicable"]]
    assert applicable == sorted(applicable)
    assert all(h["nmse"] is None and h["reason"] for h in hyps if not h["applicable"])
    assert {"meaning", "cosine", "max_abs", "fix"} <= set(hyps[0])


def test_cli_says_when_nothing_explains_the_output(captured, tmp_path):
    y = np.random.default_rng(3).standard_normal((3, 256)).astype(np.float32)
    np.save(tmp_path / "noise.npy", y)
    r = run(TINY, "blk.0.ffn_down.weight", "--observed", str(tmp_path / "noise.npy"), "--input", str(captured / "x.npy"))
    assert r.returncode == 0, r.stderr
    assert "no known bug explains this output" in r.stdout and "fix:" not in r.stdout


def _bad(tmp_path, name, array):
    target = tmp_path / name
    np.save(target, array)
    return str(target)


@pytest.mark.parametrize("which, array, message", [
    ("observed", np.zeros((3, 255), np.float32), "shape is (3, 255), expected (M, N) = (3, 256)"),
    ("observed", np.zeros((2, 256), np.float32), "expected (M, N) = (3, 256)"),
    ("observed", np.array([["a"] * 256] * 3), "not real numbers"),
    ("input", np.zeros((3, 704), np.float64), "dtype is float64, expected float32 (M, 704)"),
    ("input", np.zeros(704, np.float32), "shape is (704,), expected float32 (M, 704)"),
    ("input", np.zeros((3, 700), np.float32), "shape is (3, 700)"),
])
def test_cli_bad_arrays_exit_2_naming_the_file_and_the_shape(captured, tmp_path, which, array, message):
    paths = {"observed": str(captured / "y.npy"), "input": str(captured / "x.npy")}
    paths[which] = _bad(tmp_path, "bad.npy", array)
    r = run(TINY, "blk.0.ffn_down.weight", "--observed", paths["observed"], "--input", paths["input"])
    assert r.returncode == 2 and r.stdout == ""
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and f"--{which} '{paths[which]}'" in line and message in line, line


def test_cli_missing_or_unreadable_files_exit_2(captured, tmp_path):
    missing = run(TINY, "blk.0.ffn_down.weight", "--observed", str(tmp_path / "nope.npy"),
                  "--input", str(captured / "x.npy"))
    assert missing.returncode == 2 and "nope.npy': no such file" in missing.stderr
    (tmp_path / "text.npy").write_text("not numpy")
    garbage = run(TINY, "blk.0.ffn_down.weight", "--observed", str(captured / "y.npy"),
                  "--input", str(tmp_path / "text.npy"))
    assert garbage.returncode == 2 and "cannot read it as .npy" in garbage.stderr
    options = run(TINY, "blk.0.ffn_down.weight", "--observed", str(captured / "y.npy"),
                  "--input", str(captured / "x.npy"), "--platform", "rk3566", "--mm", "int4")
    assert options.returncode == 2 and "rk3566 does not support matmul type 'int4'" in options.stderr


def test_cli_all_nan_output_is_reported_without_warnings(captured, tmp_path):
    np.save(tmp_path / "nan.npy", np.full((3, 256), np.nan, np.float32))
    r = run(TINY, "blk.0.ffn_down.weight", "--observed", str(tmp_path / "nan.npy"), "--input", str(captured / "x.npy"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "no known bug explains this output" in r.stdout
    assert "the observed output: 768 of 768 values are not finite (768 NaN), the first at m 0, n 0" in r.stdout
