"""OffloadSession on the real tiny model: its evaluations are eval's, references decode once, cancel is clean."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from layoutscope.gguf import open_model
from layoutscope.inference.evaluate import EvalRequest, eval_model
from layoutscope.measure.settings import RunSettings
from layoutscope.planning.session import Cancelled, OffloadSession


@pytest.fixture(scope="module")
def session(tiny_llama_path):
    with open_model(str(tiny_llama_path)) as model, \
            OffloadSession(model, EvalRequest(ctx=64, chunks=2, threads=1), "npu-sim", RunSettings()) as opened:
        yield opened


def count_decodes(session):
    """Wrap the engine's decode to count the calls (what a cached reference saves)."""
    engine = session._engine
    calls = []
    original = engine.decode

    def counted(tokens, observer=None):
        calls.append(observer)
        return original(tokens, observer)

    engine.decode = counted
    return calls, lambda: setattr(engine, "decode", original)


def test_a_candidate_measures_what_eval_measures(session, tiny_llama_path):
    assignment = {name: "W8A8_STANDARD" for name in session.weights if name.startswith("blk.1.")}
    run = session.evaluate([session.candidate("blk.1", assignment)])
    settings = RunSettings().with_changes(pipeline="W8A8_STANDARD")
    from layoutscope.inference.npu_sides import npu_side_for

    backend, _ = npu_side_for("npu-sim", settings)
    with open_model(str(tiny_llama_path)) as model:
        plain = eval_model(model, EvalRequest(ctx=64, chunks=2, threads=1, npu="layers:1"), backend)
    assert run.results[0].quality == plain.run.results[0].quality


def test_references_are_decoded_once_across_evaluations(session):
    session.evaluate([session.candidate("warm", {session.weights[1]: "W8A8_STANDARD"})])
    calls, restore = count_decodes(session)
    try:
        session.evaluate([session.candidate("a", {session.weights[1]: "W8A8_STANDARD"}),
                          session.candidate("b", {session.weights[2]: "W4A4_STANDARD"})])
    finally:
        restore()
    assert len(calls) == 2 * len(session.chunks)  # two candidates per chunk, no reference
    assert all(observer is not None for observer in calls)


def test_the_same_candidate_twice_is_bit_identical(session):
    assignment = {name: "W4A4_HADAMARD" for name in session.weights[:5]}
    first = session.evaluate([session.candidate("x", assignment)]).results[0].scores.kld
    second = session.evaluate([session.candidate("x", assignment)]).results[0].scores.kld
    assert np.array_equal(first, second)


def test_cancel_raises_cancelled_and_resume_makes_the_session_usable_again(session):
    assignment = {name: "W8A8_STANDARD" for name in session.weights}
    calls, restore = count_decodes(session)
    engine_decode = session._engine.decode

    def cancel_on_first(tokens, observer=None):
        if len(calls) == 1:
            threading.Thread(target=session.cancel).start()
            threading.Event().wait(0.05)
        return engine_decode(tokens, observer)

    session._engine.decode = cancel_on_first
    try:
        with pytest.raises(Cancelled):
            session.evaluate([session.candidate("all", assignment)])
        with pytest.raises(Cancelled):  # stays cancelled until a new job says otherwise
            session.evaluate([session.candidate("all", assignment)])
    finally:
        restore()
    session.resume()
    run = session.evaluate([session.candidate("all", assignment)])
    assert run.complete and run.results[0].quality.kld_mean > 0
