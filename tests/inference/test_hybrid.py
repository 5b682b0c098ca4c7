"""``--hybrid``: the pattern read as the backend reads RKNPU_HYBRID, the numbering order, the cycle, the defaults.

The tiny sample (llama, every weight Q8_0, so all eligible) gets tables
computed by hand from the modelled order: output.weight first, then per layer
attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_down, ffn_up.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from layoutscope.inference.hybrid import (HybridSide, as_text, assign, malformed, numbering_order,
                                          read_pattern)

LAYER = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up")
#: The tiny model's 29 weights in the modelled numbering order, written out by hand.
TINY_ORDER = ["output.weight"] + [f"blk.{i}.{role}.weight" for i in range(4) for role in LAYER]


@dataclass
class FakeTensor:
    name: str
    type_name: str
    shape: tuple


class FakeModel:
    """A model view with chosen types: what the hybrid prediction reads (names, shapes, types, architecture)."""

    def __init__(self, architecture, tensors):
        self.architecture = architecture
        self.tensors = [FakeTensor(n, t, s) for n, t, s in tensors]

    def tensor(self, name):
        return next(t for t in self.tensors if t.name == name)


def test_the_pattern_is_read_as_the_backend_reads_it():
    assert read_pattern("W8A8_STANDARD,,CPU_STANDARD,") == ("W8A8_STANDARD", "CPU_STANDARD")
    assert read_pattern("W8A8_STANDARD, W4A4_HADAMARD") == ("W8A8_STANDARD", " W4A4_HADAMARD")  # no trimming


@pytest.mark.parametrize("text, words", [
    ("W8A8_STANDARD, W4A4_HADAMARD", ("' W4A4_HADAMARD' has a space", "keep those tensors on the CPU")),
    ("W8A8_STANDARD,,CPU_STANDARD", ("empty token", "cycle W8A8_STANDARD,CPU_STANDARD")),
    (",", ("no pipeline name", "defaults")),
])
def test_the_cli_refuses_a_malformed_pattern_saying_how_the_backend_reads_it(text, words):
    why = malformed(text)
    assert why is not None and all(w in why for w in words), why


@pytest.mark.parametrize("text", ["default", "W8A8_STANDARD", "CPU_STANDARD", "W8A8_STANDARD,CPU_STANDARD"])
def test_well_formed_patterns_pass_even_with_unknown_names(text):
    assert malformed(text) is None


def test_the_tiny_models_order_is_llamas_creation_order(tiny_model):
    order, source = numbering_order(tiny_model)
    assert order == TINY_ORDER
    assert "UNCONFIRMED" in source and "llama" in source


def test_a_two_name_pattern_alternates_per_distinct_weight(tiny_model):
    plan = assign(tiny_model, "W8A8_STANDARD,CPU_STANDARD")
    assert [a.tensor for a in plan.assignments] == TINY_ORDER
    assert [a.seq for a in plan.assignments] == list(range(29))
    assert [a.pipeline for a in plan.assignments] == ["W8A8_STANDARD", None] * 14 + ["W8A8_STANDARD"]
    assert "no pipeline name" in plan.assignments[1].reason
    assert len(plan.offloaded) == 15 and plan.offloaded["output.weight"] == "W8A8_STANDARD"
    assert plan.offloaded["blk.0.ffn_down.weight"] == "W8A8_STANDARD"  # seq 6 (ffn_up, seq 7, is on the CPU)


def test_a_three_name_pattern_cycles(tiny_model):
    plan = assign(tiny_model, "W4A4_HADAMARD,W8A8_HADAMARD,W16A16_STANDARD")
    expected = ["W4A4_HADAMARD", "W8A8_HADAMARD", "W16A16_STANDARD"]
    assert [a.pipeline for a in plan.assignments] == [expected[i % 3] for i in range(29)]


@pytest.mark.parametrize("hadamard, pipeline", [(False, "W8A8_STANDARD"), (True, "W8A8_HADAMARD")])
def test_default_maps_q8_0_to_w8(tiny_model, hadamard, pipeline):
    plan = assign(tiny_model, "default", hadamard=hadamard)
    assert {a.pipeline for a in plan.assignments} == {pipeline}


def test_ineligible_types_are_skipped_with_the_reason_and_take_no_number():
    model = FakeModel("llama", [
        ("token_embd.weight", "Q4_K", (100, 64)), ("blk.0.attn_norm.weight", "F32", (64,)),
        ("blk.0.attn_q.weight", "Q4_K", (64, 64)), ("blk.0.attn_k.weight", "F16", (64, 64)),
        ("blk.0.attn_v.weight", "F32", (64, 64)), ("blk.0.attn_output.weight", "Q6_K", (64, 64)),
        ("blk.0.ffn_gate.weight", "Q4_0", (64, 64)), ("blk.0.ffn_up.weight", "Q6_K", (64, 64)),
        ("blk.0.ffn_down.weight", "BF16", (64, 64)), ("output.weight", "Q5_K", (100, 64))])
    plan = assign(model, "default")
    rows = {a.tensor: a for a in plan.assignments}
    assert [a.tensor for a in plan.assignments] == [
        "output.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
        "blk.0.attn_output.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_down.weight", "blk.0.ffn_up.weight"]
    for skipped in ("output.weight", "blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.0.ffn_down.weight"):
        assert rows[skipped].seq is None and rows[skipped].pipeline is None
        assert "keeps" in rows[skipped].reason and rows[skipped].type in rows[skipped].reason
    # The eligible ones are numbered 0.. in order; Q6_K's default cycles [W8, W4A4_HADAMARD] by that number.
    assert [(rows[n].seq, rows[n].pipeline) for n in ("blk.0.attn_k.weight", "blk.0.attn_output.weight",
                                                      "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight")] == [
        (0, "W16A16_STANDARD"), (1, "W4A4_HADAMARD"), (2, "W4A4_HADAMARD"), (3, "W4A4_HADAMARD")]
    assert "Q4_K" in as_text(plan) and "UNCONFIRMED" in as_text(plan)


def test_gemma3_creates_up_before_down_and_numbers_a_tied_head_first():
    weights = [(f"blk.0.{r}.weight", "Q8_0", (64, 64)) for r in LAYER]
    model = FakeModel("gemma3", [("token_embd.weight", "Q8_0", (100, 64)), *weights])
    order, _ = numbering_order(model)
    assert order == ["token_embd.weight"] + [f"blk.0.{r}.weight" for r in (
        "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")]


def test_other_architectures_fall_back_to_file_order_and_say_so():
    model = FakeModel("qwen2", [("blk.0.ffn_up.weight", "Q8_0", (64, 64)), ("blk.0.attn_q.weight", "Q8_0", (64, 64)),
                                ("output.weight", "Q8_0", (100, 64))])
    order, source = numbering_order(model)
    assert order == ["blk.0.ffn_up.weight", "blk.0.attn_q.weight", "output.weight"]
    assert "file's tensor order" in source and "UNCONFIRMED" in source


def test_the_side_routes_each_weight_to_its_pipeline(tiny_model):
    plan = assign(tiny_model, "W8A8_STANDARD,W4A4_STANDARD")
    calls = []

    class Recorder:
        requantize_seconds = 0.5

        def __init__(self, label):
            self.label = label

        def prepare(self, name):
            calls.append(("prepare", self.label, name))

        def __call__(self, name, x):
            return self.label

    side = HybridSide(plan, {"W8A8_STANDARD": Recorder("8"), "W4A4_STANDARD": Recorder("4")})
    assert side("output.weight", None) == "8" and side("blk.0.attn_q.weight", None) == "4"
    side.prepare("blk.0.attn_k.weight")
    assert calls == [("prepare", "8", "blk.0.attn_k.weight")]
    assert side.requantize_seconds == 1.0
