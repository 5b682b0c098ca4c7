"""The RKNPU_HYBRID line of a plan: read back through eval --hybrid's own assignment, it gives the plan."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from layoutscope.gguf import open_model
from layoutscope.inference.hybrid import assign, numbering_order
from layoutscope.planning.costs import CHEAPEST_FIRST, hadamard_ops_per_token, padded
from layoutscope.planning.hybrid_line import CPU_TOKEN, hybrid_line, shortest_period


@pytest.mark.parametrize("tokens, period", [
    (["A"], ["A"]),
    (["A", "A", "A"], ["A"]),
    (["A", "B", "A", "B", "A"], ["A", "B"]),
    (["A", "B", "C"], ["A", "B", "C"]),
    (["A", "A", "B", "A", "A", "B", "A"], ["A", "A", "B"]),
    (["A", "B", "A", "A"], ["A", "B", "A"]),
    (["A", "A", "B"], ["A", "A", "B"]),
])
def test_shortest_period_repeats_into_the_tokens(tokens, period):
    assert list(shortest_period(tokens)) == period
    assert [period[i % len(period)] for i in range(len(tokens))] == tokens


@pytest.fixture(scope="module")
def tiny(tiny_llama_path):
    with open_model(str(tiny_llama_path)) as model:
        yield model


@pytest.mark.parametrize("seed", range(5))
def test_any_plan_of_eligible_weights_reads_back_as_itself(tiny, seed):
    weights, _ = numbering_order(tiny)
    rng = random.Random(seed)
    plan = {name: rng.choice(CHEAPEST_FIRST) for name in weights if rng.random() < 0.6}
    line = hybrid_line(tiny, plan, weights)
    assert line.pattern and line.line == f"RKNPU_HYBRID={line.pattern}"
    assert assign(tiny, line.pattern, matmul=weights).offloaded == plan
    assert line.table.offloaded == plan


def test_a_periodic_plan_gives_a_short_pattern(tiny):
    weights, _ = numbering_order(tiny)
    plan = {name: "W8A8_STANDARD" for name in weights[::2]}
    assert hybrid_line(tiny, plan, weights).pattern == f"W8A8_STANDARD,{CPU_TOKEN}"
    everything = {name: "W4A4_HADAMARD" for name in weights}
    assert hybrid_line(tiny, everything, weights).pattern == "W4A4_HADAMARD"


def test_no_line_for_types_the_backend_keeps_on_the_cpu():
    types = {"a": "Q8_0", "b": "Q4_K", "c": "Q5_0"}
    model = SimpleNamespace(tensor=lambda name: SimpleNamespace(type_name=types[name]))
    line = hybrid_line(model, {"a": "W8A8_STANDARD", "b": "W8A8_STANDARD", "c": "W4A4_STANDARD"}, ["a", "b", "c"])
    assert line.pattern is None and line.line == ""
    assert "2 weight(s) of type Q4_K, Q5_0" in line.why_not and "--any-type" in line.why_not


def test_hadamard_cost_counts_the_padded_transform():
    assert padded(640) == 1024 and padded(1024) == 1024 and padded(1) == 1
    # 640 sign flips, 1024·10 butterflies, 256 output divisions
    assert hadamard_ops_per_token(640, 256) == 640 + 10240 + 256
