"""What the planner moves to the NPU as one: a single weight, or every offloadable weight of a layer.

A unit's size is what ``--objective`` counts: the weight's bytes in the GGUF
file, or its multiply-accumulates per token (K × N). Weights of a type the
community backend keeps on the CPU (anything but F16, Q8_0, Q6_K, Q4_0) are
left out with the backend's reason, unless ``any_type`` asks what-if.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from layoutscope.backend.community.eligibility import eligible
from layoutscope.gguf.tensor import parse_layer

#: How the planner groups weights: ``layer`` (fewer evaluations) or ``weight`` (finer plans).
UNIT_KINDS = ("layer", "weight")
#: What a plan maximises: the weight bytes on the NPU, or the multiply-accumulates per token.
OBJECTIVES = ("bytes", "macs")
#: The name of the unit that holds the output head (a weight outside every layer).
HEAD = "output"


@dataclass(frozen=True)
class WeightFacts:
    """One matmul weight: its name, GGUF type, layer (None: the head), bytes and multiply-accumulates per token."""

    name: str
    type: str
    layer: Optional[int]
    bytes: int
    macs: int

    def size(self, objective: str) -> int:
        """What ``objective`` counts of this weight."""
        return self.bytes if objective == "bytes" else self.macs


@dataclass(frozen=True)
class Unit:
    """Weights that go to the NPU together: their label (``blk.3``, ``output`` or a weight name) and facts."""

    label: str
    weights: tuple[WeightFacts, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The weights' names."""
        return tuple(w.name for w in self.weights)

    @property
    def layer(self) -> Optional[int]:
        """The layer every weight of the unit is in (None for the head)."""
        return self.weights[0].layer

    def size(self, objective: str) -> int:
        """What ``objective`` counts of the whole unit."""
        return sum(w.size(objective) for w in self.weights)


def weight_facts(model, weights: Sequence[str]) -> list[WeightFacts]:
    """The facts of each of ``weights`` (llama.cpp's matmul weights), in their order."""
    facts = []
    for name in weights:
        tensor = model.tensor(name)
        macs = 1
        for extent in tensor.ne[:2]:
            macs *= int(extent)
        facts.append(WeightFacts(name, tensor.type_name, parse_layer(name)[1], int(tensor.nbytes), macs))
    return facts


def offloadable(facts: Sequence[WeightFacts], any_type: bool = False) -> tuple[list, list]:
    """``(weights the planner may offload, [(weight, why it stays on the CPU)])``."""
    chosen, kept = [], []
    for w in facts:
        ok, why = eligible(w.type)
        if ok or any_type:
            chosen.append(w)
        else:
            kept.append((w, why))
    return chosen, kept


def make_units(facts: Sequence[WeightFacts], kind: str) -> list[Unit]:
    """The units of ``kind`` (``layer`` or ``weight``) over ``facts``, in llama.cpp's order of first use."""
    if kind == "weight":
        return [Unit(w.name, (w,)) for w in facts]
    groups: dict = {}
    for w in facts:
        groups.setdefault(HEAD if w.layer is None else f"blk.{w.layer}", []).append(w)
    return [Unit(label, tuple(members)) for label, members in groups.items()]
