"""The engine: llama.cpp with an observer in its graph, its struct check, its failures carried out of C."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import types

import numpy as np
import pytest

from layoutscope.errors import classify
from layoutscope.inference.engine import Engine
from layoutscope.inference.evaluate import matmul_weights
from layoutscope.inference.graph import OBJECT_HEADER, GgmlTensor, LayoutMismatch, check_layout
from layoutscope.inference.library import EngineUnavailable, ModelRefused

LAYER_WEIGHTS = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}


class Watcher:
    """An observer that records what it is handed, and runs ``on_matmul`` inside the compute."""

    def __init__(self, wanted=lambda weight: True, layers=True, on_matmul=None):
        self._wanted = wanted
        self.layers = layers
        self._on_matmul = on_matmul
        self.matmuls: list[tuple[str, tuple, tuple]] = []
        self.hidden: dict[int, np.ndarray] = {}

    def wants(self, weight):
        return self._wanted(weight)

    def matmul(self, weight, x, y):
        self.matmuls.append((weight, x.shape, y.shape))
        if self._on_matmul is not None:
            self._on_matmul(weight, x, y)

    def layer(self, index, hidden):
        self.hidden[index] = np.array(hidden, copy=True)


@pytest.fixture(scope="module")
def reference(engine, first_chunks):
    """The unobserved logits of the first chunk."""
    return np.array(engine.decode(first_chunks[0].tokens), copy=True)


# -- ggml's struct -------------------------------------------------------------------
def test_check_layout_accepts_the_declared_size_and_refuses_another_clearly():
    expected = ctypes.sizeof(GgmlTensor) + OBJECT_HEADER
    check_layout(expected)
    with pytest.raises(LayoutMismatch) as caught:
        check_layout(expected + 8)
    message = str(caught.value)
    assert f"take {expected + 8} bytes" in message and f"reads {expected}" in message
    assert "llama-cpp-python 0.3.36" in message


def test_an_engine_on_a_library_with_another_struct_is_unavailable(monkeypatch, tiny_llama_path):
    import layoutscope.backend.libggml as libggml

    def op_name(op):
        return b"MUL_MAT"

    wrong = ctypes.sizeof(GgmlTensor) + OBJECT_HEADER + 16
    fake = types.SimpleNamespace(base=types.SimpleNamespace(ggml_op_name=op_name,
                                                            ggml_tensor_overhead=lambda: wrong))
    monkeypatch.setattr(libggml, "load", lambda: fake)
    with pytest.raises(EngineUnavailable) as caught:
        Engine(str(tiny_llama_path), [])
    assert f"take {wrong} bytes" in str(caught.value)
    assert classify(caught.value)[0] == 1  # a resource that is unavailable, not bad input


# -- loading ---------------------------------------------------------------------------
def test_facts_of_the_tiny_model(engine):
    f = engine.facts
    assert (f.n_vocab, f.n_ctx_train, f.n_layer, f.n_embd, f.threads, f.ctx) == (1000, 256, 4, 256, 1, 64)
    assert f.add_bos and not f.repack and f.to_dict()["weight_repacking"] is False


def test_a_model_llama_cpp_cannot_load_is_refused_with_its_reason(all_types_path):
    with pytest.raises(ModelRefused) as caught:
        Engine(str(all_types_path), [])
    message = str(caught.value)
    assert "llama.cpp cannot load this model" in message and "unknown model architecture" in message
    assert "\n" not in message and classify(caught.value)[0] == 2


def test_a_context_beyond_the_trained_one_is_refused(tiny_llama_path):
    with pytest.raises(ModelRefused, match="--ctx 257: .* context of 256 tokens"):
        Engine(str(tiny_llama_path), [], ctx=257)


def test_llama_cpp_log_does_not_reach_stderr(tiny_llama_path, tmp_path):
    # -W default: nothing else either (llama-cpp-python leaves two /dev/null files open: a ResourceWarning)
    script = (
        "import sys\n"
        "from layoutscope.inference.engine import Engine\n"
        "from layoutscope.inference.library import LOG\n"
        f"with Engine({str(tiny_llama_path)!r}, [], ctx=16, threads=1) as e:\n"
        "    e.decode(e.tokenize('Hello there')[:4])\n"
        "print(len(LOG.since(0)))\n")
    done = subprocess.run([sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert int(done.stdout) > 0  # llama.cpp did log: into layoutscope's buffer


# -- text ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["It is a truth universally acknowledged.", "Hello, world!\nTwo lines."])
def test_tokenize_round_trip(engine, text):
    tokens = engine.tokenize(text)
    assert tokens.dtype == np.int32 and len(tokens) > 0 and engine.bos not in tokens
    assert "".join(engine.piece(t) for t in tokens).lstrip(" ") == text


def test_tokenize_long_text_and_empty_text(engine, text_tokens):
    assert len(text_tokens) > 2000  # the buffer grows past its first guess when needed
    assert len(engine.tokenize("")) == 0


# -- decoding ----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 65])
def test_decode_refuses_an_empty_or_too_long_chunk(engine, n):
    with pytest.raises(ValueError, match="1 to 64 tokens"):
        engine.decode(np.ones(n, dtype=np.int32))


def test_decode_is_deterministic(engine, first_chunks, reference):
    again = engine.decode(first_chunks[0].tokens)
    assert again.shape == (64, 1000) and again.dtype == np.float32
    assert np.array_equal(again, reference)


def test_layer_outputs_are_reported_for_every_layer(engine, first_chunks, reference):
    tokens = first_chunks[0].tokens
    watcher = Watcher(wanted=lambda w: False)
    logits = engine.decode(tokens, watcher)
    assert sorted(watcher.hidden) == list(range(engine.facts.n_layer))
    assert all(h.shape == (len(tokens), engine.facts.n_embd) for h in watcher.hidden.values())
    assert watcher.matmuls == []
    assert np.array_equal(logits, reference)  # watching changes nothing


def test_matmul_weights_are_the_layer_weights_then_the_output_head(engine, first_chunks, weights):
    assert len(weights) == 29 and weights[-1] == "output.weight"
    for layer in range(4):
        own = weights[7 * layer:7 * layer + 7]
        assert {w.split(".")[2] for w in own} == LAYER_WEIGHTS
        assert all(w.startswith(f"blk.{layer}.") for w in own)
        # attention's projections run before the feed-forward's, ffn_down last
        assert [w.split(".")[2][:3] for w in own] == ["att"] * 4 + ["ffn"] * 3 and own[-1].endswith("ffn_down.weight")
    assert matmul_weights(engine, first_chunks[1].tokens) == weights


def test_observed_matmuls_have_the_real_shapes_and_results(engine, tiny_model, first_chunks):
    from layoutscope.backend import get_backend

    cpu = get_backend("cpu", threads=1)
    seen = {}

    def check(weight, x, y):
        seen[weight] = (np.array(x, copy=True), np.array(y, copy=True))

    tokens = first_chunks[0].tokens
    engine.decode(tokens, Watcher(wanted=lambda w: w in ("blk.1.ffn_up.weight", "output.weight"), on_matmul=check))
    assert sorted(seen) == ["blk.1.ffn_up.weight", "output.weight"]
    for name, (x, y) in seen.items():
        ne = tiny_model.tensor(name).ne
        assert x.shape == (len(tokens), ne[0]) and y.shape == (len(tokens), ne[1])
        assert np.array_equal(cpu.matmul(tiny_model.tensor(name), x).y, y), name


def test_what_the_observer_writes_is_what_the_model_reads(engine, first_chunks, reference):
    def zero_head(weight, x, y):
        y[...] = 0.0

    logits = engine.decode(first_chunks[0].tokens, Watcher(wanted=lambda w: w == "output.weight", on_matmul=zero_head))
    assert (logits == 0).all()
    assert np.array_equal(engine.decode(first_chunks[0].tokens), reference)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("where", ["matmul", "wants", "layer"])
def test_an_observer_exception_propagates_and_the_next_decode_is_clean(engine, first_chunks, reference, where):
    def boom(*args):
        raise Boom(f"raised in {where}")

    watcher = Watcher()
    setattr(watcher, where, boom)
    with pytest.raises(Boom, match=f"^raised in {where}$"):
        engine.decode(first_chunks[0].tokens, watcher)
    assert np.array_equal(engine.decode(first_chunks[0].tokens), reference)
    assert np.array_equal(engine.decode(first_chunks[0].tokens, Watcher()), reference)


def test_cancel_makes_decode_raise_keyboard_interrupt(engine, first_chunks, reference):
    calls = []

    def cancel(weight, x, y):
        calls.append(weight)
        engine.cancel()

    with pytest.raises(KeyboardInterrupt):
        engine.decode(first_chunks[0].tokens, Watcher(on_matmul=cancel))
    assert 1 <= len(calls) < 29  # the compute stopped early
    assert np.array_equal(engine.decode(first_chunks[0].tokens), reference)


def test_cancel_from_another_thread(engine, first_chunks, reference):
    import threading

    started, release = threading.Event(), threading.Event()

    def wait(weight, x, y):
        started.set()
        release.wait(30)

    def canceller():
        started.wait(30)
        engine.cancel()
        release.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        engine.decode(first_chunks[0].tokens, Watcher(wanted=lambda w: w == "blk.0.attn_q.weight", on_matmul=wait))
    thread.join()
    assert np.array_equal(engine.decode(first_chunks[0].tokens), reference)
