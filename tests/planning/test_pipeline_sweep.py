"""planning.pipeline_sweep: which weights each pipeline's candidate offloads, and the rows of the published table."""

from __future__ import annotations

from dataclasses import dataclass

from layoutscope.backend.community.pipelines import PIPELINE_NAMES
from layoutscope.planning.pipeline_sweep import pipeline_sweep, sweep_rows, within


@dataclass
class _Tensor:
    name: str
    type_name: str
    ne: tuple
    nbytes: int


class _Model:
    """Just what the sweep reads of a model: each weight's type, extents and bytes."""

    def __init__(self, types: dict):
        self._tensors = {name: _Tensor(name, t, (64, 32), 1000 + i) for i, (name, t) in enumerate(types.items())}

    def tensor(self, name):
        return self._tensors[name]


MIXED = {"output.weight": "Q6_K", "blk.0.attn_q.weight": "Q4_K", "blk.0.attn_k.weight": "Q8_0",
         "blk.0.ffn_down.weight": "Q5_0", "blk.1.attn_q.weight": "F16", "blk.1.ffn_up.weight": "BF16"}


def _sides():
    made = []

    def side_for(pipeline):
        made.append(pipeline)
        return f"side:{pipeline}"
    return made, side_for


def test_only_the_backend_s_types_are_offloaded_and_the_rest_say_why():
    made, side_for = _sides()
    sweep = pipeline_sweep(_Model(MIXED), list(MIXED), side_for)
    assert sweep.pipelines == PIPELINE_NAMES and made == list(PIPELINE_NAMES)
    offloaded = ("output.weight", "blk.0.attn_k.weight", "blk.1.attn_q.weight")
    assert all(c.selected == offloaded and c.side == f"side:{c.pipeline}" and c.label == c.pipeline
               for c in sweep.candidates)
    assert [(w.name, w.type) for w, _ in sweep.kept] == [("blk.0.attn_q.weight", "Q4_K"),
                                                         ("blk.0.ffn_down.weight", "Q5_0"),
                                                         ("blk.1.ffn_up.weight", "BF16")]
    assert all("keeps" in why and "on the CPU" in why for _, why in sweep.kept)
    assert sweep.kept[0][1].startswith("the community backend keeps Q4_K weights on the CPU")
    assert not sweep.any_type


def test_any_type_offloads_every_weight_and_keeps_none():
    _, side_for = _sides()
    sweep = pipeline_sweep(_Model(MIXED), list(MIXED), side_for, ("W8A8_STANDARD",), any_type=True)
    assert sweep.kept == () and sweep.any_type
    assert [c.selected for c in sweep.candidates] == [tuple(MIXED)]


def test_a_pipeline_named_twice_runs_once_in_first_order():
    made, side_for = _sides()
    sweep = pipeline_sweep(_Model(MIXED), list(MIXED), side_for, ("W4A4_HADAMARD", "W8A8_STANDARD", "W4A4_HADAMARD"))
    assert sweep.pipelines == ("W4A4_HADAMARD", "W8A8_STANDARD") and made == ["W4A4_HADAMARD", "W8A8_STANDARD"]


@dataclass
class _Quality:
    kld_mean: float
    kld_p99: float
    top1_agreement: float
    ppl_reference: float
    ppl_candidate: float


@dataclass
class _Result:
    candidate: object
    quality: _Quality


def test_rows_carry_delta_ppl_against_the_reference_and_within_keeps_order():
    _, side_for = _sides()
    sweep = pipeline_sweep(_Model(MIXED), list(MIXED), side_for, ("W8A8_STANDARD", "W4A4_STANDARD", "W16A16_STANDARD"))
    figures = [(0.004, 0.02, 0.97, 10.0, 10.5), (0.2, 0.9, 0.6, 10.0, 14.0), (0.01, 0.03, 0.99, 10.0, 9.75)]
    rows = sweep_rows([_Result(c, _Quality(*f)) for c, f in zip(sweep.candidates, figures)])
    assert [r["delta_ppl"] for r in rows] == [0.5, 4.0, -0.25]
    assert [r["weights"] for r in rows] == [3, 3, 3]
    assert within(rows, 0.01) == ["W8A8_STANDARD", "W16A16_STANDARD"]  # the bound is inclusive
    assert within(rows, 0.001) == []
