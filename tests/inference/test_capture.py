"""Capture of real activations on the bundled tiny model: faithful to llama.cpp, and its bad inputs one line each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from layoutscope.samples import TINY_LLAMA, path as sample_path

TINY = str(sample_path(TINY_LLAMA))
ALL_TYPES = str(sample_path("all-types.gguf"))


def cli(*argv, stdin=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "layoutscope", *argv], capture_output=True, text=True, timeout=300,
                          input=stdin, cwd=cwd, env={**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default"})


class Recorder:
    """An observer of the test's own: every wanted matmul's whole X and Y, copied."""

    layers = False

    def __init__(self, names):
        self.names, self.seen = set(names), {}

    def wants(self, weight):
        return weight in self.names

    def matmul(self, weight, x, y):
        self.seen[weight] = (x.copy(), y.copy())


def test_captured_rows_are_llama_cpps_own_and_ggml_reproduces_them_bit_for_bit():
    from layoutscope.backend import get_backend
    from layoutscope.gguf import open_model
    from layoutscope.inference.capture import capture
    from layoutscope.inference.engine import Engine
    from layoutscope.inference.text import chunks, read_text

    acts = capture(TINY, rows=16, threads=2)
    assert len(acts.weights) == 29 and "token_embd.weight" not in acts.weights  # the model has output.weight
    # The rows are spread over the whole text, in text order, the same for every weight.
    first = acts.weights["blk.0.attn_q.weight"].positions
    assert len(first) == 16 and first[0].tolist() == [0, 0] and first[-1, 0] == acts.chunks - 1
    assert all(np.array_equal(c.positions, first) for c in acts.weights.values())
    # Against an observer of the test's own, over the same chunks: Y is exactly llama.cpp's node output.
    text, _ = read_text(None)
    with open_model(TINY) as model, Engine(TINY, [t.name for t in model.tensors], ctx=acts.ctx, threads=2) as engine:
        pieces = chunks(engine.tokenize(text), acts.ctx, engine.bos)
        for chunk_index in sorted(set(first[:, 0].tolist())):
            recorder = Recorder(acts.weights)
            engine.decode(pieces[chunk_index].tokens, recorder)
            mine = first[:, 0] == chunk_index
            for name, c in acts.weights.items():
                x, y = recorder.seen[name]
                assert np.array_equal(c.x[mine], x[first[mine, 1]]), name
                assert np.array_equal(c.y[mine], y[first[mine, 1]]), name
        # Through the engine's own ggml, the captured X gives the captured Y bit for bit (Q8_0).
        cpu = get_backend("cpu", threads=2)
        for name, c in acts.weights.items():
            assert np.array_equal(cpu.matmul(model.tensor(name), c.x).y, c.y), name


def test_the_npz_round_trips_and_refuses_another_model(tmp_path):
    from layoutscope.measure.activations import load_activations
    from layoutscope.measure.settings import OptionError

    target = tmp_path / "acts.npz"
    r = cli("capture", TINY, "--rows", "5", "--filter", "ffn_down", "-o", str(target))
    assert r.returncode == 0, r.stderr
    assert "captured 5 rows of each of 4 matmul weights" in r.stdout
    acts = load_activations(str(target), TINY)
    assert list(acts.weights) == [f"blk.{i}.ffn_down.weight" for i in range(4)]
    c = acts.weights["blk.2.ffn_down.weight"]
    assert c.x.shape == (5, 704) and c.y.shape == (5, 256) and c.positions.shape == (5, 2)
    assert acts.text.startswith("the bundled text") and acts.ctx == 256 and acts.rows == 5
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(OptionError, match="captured from another model"):
        load_activations(str(target), ALL_TYPES)
    # compare reads it without llama.cpp; the reference is llama.cpp's captured output.
    r = cli("compare", TINY, "blk.2.ffn_down.weight", "--input", str(target), "--json")
    data = json.loads(r.stdout)
    assert data["reference"] == "llama.cpp" and data["shape"] == [5, 256]
    assert data["standalone_vs_graph"]["bit_identical"] is True and data["standalone_vs_graph"]["nmse"] == 0
    assert data["input"].startswith("real, 5 rows of blk.2.ffn_down.weight's input")


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_compare_with_an_npz_does_not_import_llama_cpp(tmp_path):
    target = tmp_path / "acts.npz"
    assert cli("capture", TINY, "--rows", "2", "--filter", "attn_q", "-o", str(target)).returncode == 0
    code = ("import sys; from layoutscope.cli.main import main; "
            f"main(['compare', {TINY!r}, 'blk.0.attn_q.weight', '--input', {str(target)!r}]); "
            "print('llama_cpp' in sys.modules, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stderr.strip().splitlines()[-1] == "False", r.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("capture-inputs")
    (d / "empty.txt").write_text("  \n")
    (d / "not.npz").write_bytes(b"not a zip at all")
    np.savez(d / "foreign.npz", x=np.zeros(3, np.float32))
    good = d / "good.npz"
    assert cli("capture", TINY, "--rows", "2", "--filter", "blk.0.attn_q", "-o", str(good)).returncode == 0
    return d


@pytest.mark.parametrize("argv,code,words", [
    (("capture", TINY, "--rows", "0", "-o", "{d}/a.npz"), 2, ("--rows '0'", "out of range")),
    (("capture", TINY, "--filter", "(", "-o", "{d}/a.npz"), 2, ("--filter",)),
    (("capture", TINY, "--filter", "nothing-like-this", "-o", "{d}/a.npz"), 2, ("matches none of the 39 tensors",)),
    (("capture", TINY, "--filter", "token_embd", "-o", "{d}/a.npz"), 2, ("never multiplies",)),
    (("capture", TINY, "--text", "{d}/empty.txt", "-o", "{d}/a.npz"), 2, ("the text is empty",)),
    (("capture", TINY, "--ctx", "4096", "-o", "{d}/a.npz"), 2, ("--ctx 4096", "context of 256")),
    (("capture", ALL_TYPES, "-o", "{d}/a.npz"), 2, ("llama.cpp cannot load", "unknown model architecture")),
    (("capture", TINY, "-o", "-"), 2, ("stdout is not available",)),
    (("capture", TINY, "-o", TINY), 2, ("refused, it is the input model",)),
    (("capture", TINY, "-o", "{d}/missing-dir/a.npz"), 2, ("does not exist",)),
    (("compare", TINY, "blk.0.attn_q.weight", "--input", "{d}/not.npz"), 2, ("cannot be read as an .npz",)),
    (("compare", TINY, "blk.0.attn_q.weight", "--input", "{d}/foreign.npz"), 2, ("not an activations file",)),
    (("compare", TINY, "blk.1.attn_q.weight", "--input", "{d}/good.npz"), 2, ("holds no rows of blk.1.attn_q",)),
    (("compare", ALL_TYPES, "q8_0.weight", "--input", "{d}/good.npz"), 2, ("captured from another model",)),
    (("compare", ALL_TYPES, "q8_0.weight", "--input", "real"), 2, ("llama.cpp cannot load",)),
], ids=["rows-0", "bad-regex", "filter-nothing", "filter-never-multiplied", "empty-text", "ctx-too-big",
        "model-refused", "stdout-refused", "onto-the-model", "missing-directory", "corrupt-npz", "foreign-npz",
        "npz-lacks-weight", "npz-of-another-model", "real-on-a-refused-model"])
def test_bad_input_is_one_line(files, argv, code, words):
    r = cli(*(a.format(d=files) for a in argv))
    assert r.returncode == code, (r.returncode, r.stderr)
    # Off a terminal, progress is one "[i/n] chunks decoded" line per chunk (as scan's); the error is one line.
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.endswith("chunks decoded")]
    assert len(lines) == 1 and lines[0].startswith("layoutscope: error: "), r.stderr
    assert "Traceback" not in r.stderr and "Warning:" not in r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not (files / "a.npz").exists()


def test_default_input_falls_back_with_a_notice_saying_why():
    r = cli("compare", ALL_TYPES, "q8_0.weight")
    assert r.returncode == 0, r.stderr
    assert "input: random instead of real rows" in r.stdout and "unknown model architecture" in r.stdout
    r = cli("compare", TINY, "token_embd.weight")
    assert "llama.cpp never multiplies it" in r.stdout and "npu-sim vs cpu" in r.stdout


def test_scan_runs_every_weight_on_its_real_rows():
    r = cli("scan", TINY, "--json")
    data = json.loads(r.stdout)
    assert data["reference"] == "llama.cpp" and data["scanned"] == 29
    assert data["inputs"]["real"].startswith("real, 8 rows per weight (29 weights)")


def test_ctrl_c_exits_130_and_leaves_no_file(tmp_path):
    text = tmp_path / "long.txt"
    text.write_text(sample_path("text/pride-and-prejudice-ch1.txt").read_text() * 40)
    target = tmp_path / "a.npz"
    p = subprocess.Popen([sys.executable, "-m", "layoutscope", "capture", TINY, "--text", str(text), "--threads", "1",
                          "-o", str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once decoding is under way (its first progress line).
    first = p.stderr.readline()
    assert "chunks decoded" in first, first
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*.tmp"))
