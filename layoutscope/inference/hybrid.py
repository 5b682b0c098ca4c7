"""``eval --hybrid PATTERN``: which pipeline the community backend gives each weight under ``RKNPU_HYBRID``.

The backend (fact sheet §6) reads ``RKNPU_HYBRID`` by splitting on commas,
dropping empty tokens and trimming nothing; a token that is not a pipeline
name (``CPU_STANDARD``, or ``" W8A8_STANDARD"`` with its space) keeps that
tensor on the CPU. Each distinct eligible weight (F16, Q8_0, Q6_K, Q4_0; see
:mod:`layoutscope.backend.community.eligibility`) gets the next number of a
global counter the first time llama.cpp hands it to the backend, and takes
``pattern[seq % len(pattern)]``. ``default`` is the backend's mapping by type
(§6), where ``RKNPU_DEFAULT_HADAMARD`` turns W8 into W8A8_HADAMARD.

**The numbering order is UNCONFIRMED.** It is modelled as the order in which
llama.cpp's model loader creates the weights (``load_tensors`` in
``src/llama-model.cpp``, read on GitHub), since the backend is first asked
about a weight when the loader picks its buffer type: the output head first
(``output.weight``, or the tied ``token_embd.weight`` duplicated as the output
when the file has no ``output.weight``; the embedding lookup itself is a
GET_ROWS and never numbered), then per layer ``attn_q, attn_k, attn_v,
attn_output`` and the feed-forward weights, which llama creates as
``ffn_gate, ffn_down, ffn_up`` and gemma3 as ``ffn_gate, ffn_up, ffn_down``.
Other architectures fall back to the GGUF file's order, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from layoutscope.backend.community.eligibility import eligible
from layoutscope.backend.community.pipelines import PIPELINES
from layoutscope.errors import printable
from layoutscope.gguf.tensor import parse_layer
from layoutscope.inference.evaluate import PerWeightSide

#: The ``--hybrid`` value that applies the backend's default mapping by GGUF type.
DEFAULT = "default"
#: What every order this module produces is: not confirmed on a board.
UNCONFIRMED = ("the hybrid numbering order (modelled as llama.cpp's tensor creation order at model load; "
               "not confirmed on a board)")

#: Per architecture, the weights of one layer in the order llama.cpp's loader creates them.
_LAYER_ORDER = {
    "llama": ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"),
    "gemma3": ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"),
}


def read_pattern(text: str) -> tuple[str, ...]:
    """The tokens the backend reads from ``RKNPU_HYBRID=text``: comma-split, empty tokens dropped, nothing trimmed."""
    return tuple(token for token in text.split(",") if token)


def malformed(text: str) -> Optional[str]:
    """Why the CLI refuses ``text`` as a pattern (saying how the backend would read it), or None."""
    if text == DEFAULT:
        return None
    tokens = read_pattern(text)
    if not tokens:
        return (f"--hybrid {text!r} has no pipeline name: the backend would ignore it and use its defaults "
                "(write --hybrid default)")
    for token in tokens:
        if token != token.strip() or " " in token or "\t" in token:
            return (f"--hybrid: token {token!r} has a space: the backend would keep those tensors on the CPU "
                    "(it trims nothing)")
    if len(tokens) != len(text.split(",")):
        return (f"--hybrid {text!r} has an empty token: the backend would drop it and cycle "
                f"{','.join(tokens)} ({len(tokens)} names)")
    return None


def default_pipelines(type_name: str, hadamard: bool = False) -> tuple[str, ...]:
    """The backend's default pattern for a weight type (empty for an ineligible one)."""
    w8 = "W8A8_HADAMARD" if hadamard else "W8A8_STANDARD"
    return {"F16": ("W16A16_STANDARD",), "Q8_0": (w8,), "Q6_K": (w8, "W4A4_HADAMARD"),
            "Q4_0": ("W4A4_HADAMARD",)}.get(type_name, ())


def numbering_order(model, matmul: Optional[Sequence[str]] = None) -> tuple[list[str], str]:
    """The MUL_MAT weights in the order the backend numbers them (UNCONFIRMED), and where that order comes from.

    ``matmul`` is the set of weights llama.cpp runs as MUL_MAT (eval knows it);
    without it they are guessed from the names (2-D weights other than norms
    and the embedding, which counts only when it is the tied output head).
    """
    names = [t.name for t in model.tensors]
    if matmul is None:
        tied = "output.weight" not in names
        matmul = [t.name for t in model.tensors if len(t.shape) >= 2 and "norm" not in t.name
                  and (t.name != "token_embd.weight" or tied)]
    wanted = set(matmul)
    arch = str(model.architecture or "")
    roles = _LAYER_ORDER.get(arch)
    if roles is None:
        return [n for n in names if n in wanted], (f"the GGUF file's tensor order (no creation order is modelled "
                                                   f"for architecture {arch or 'unknown'!r}); UNCONFIRMED")
    head = "output.weight" if "output.weight" in names else "token_embd.weight"
    order = [head] if head in wanted else []
    layers = sorted({layer for n in wanted if (layer := parse_layer(n)[1]) is not None})
    order += [f"blk.{i}.{role}.weight" for i in layers for role in roles if f"blk.{i}.{role}.weight" in wanted]
    rest = [n for n in names if n in wanted and n not in set(order)]
    source = f"llama.cpp's tensor creation order at model load for {arch} (load_tensors); UNCONFIRMED"
    if rest:
        source += f"; {len(rest)} other weights after them in file order"
    return order + rest, source


@dataclass(frozen=True)
class Assignment:
    """One weight's fate: its number in the cycle (None when ineligible) and pipeline (None: the CPU), and why."""

    tensor: str
    type: str
    seq: Optional[int]
    pipeline: Optional[str]
    reason: str

    def to_dict(self) -> dict:
        return {"tensor": self.tensor, "type": self.type, "seq": self.seq, "pipeline": self.pipeline or "CPU",
                "reason": self.reason}


@dataclass(frozen=True)
class HybridPlan:
    """The tensor → pipeline table a pattern gives a model."""

    pattern: str
    order_source: str
    assignments: tuple[Assignment, ...]

    @property
    def offloaded(self) -> dict[str, str]:
        """Weight → pipeline, for the weights the pattern puts on the NPU."""
        return {a.tensor: a.pipeline for a in self.assignments if a.pipeline}

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "order_source": self.order_source,
                "assignments": [a.to_dict() for a in self.assignments]}


def assign(model, pattern: str, hadamard: bool = False, matmul: Optional[Sequence[str]] = None) -> HybridPlan:
    """Each MUL_MAT weight's pipeline under ``RKNPU_HYBRID=pattern`` (or ``default``), in the numbering order."""
    order, source = numbering_order(model, matmul)
    tokens = None if pattern == DEFAULT else read_pattern(pattern)
    rows, seq = [], 0
    for name in order:
        type_name = model.tensor(name).type_name
        ok, why = eligible(type_name)
        if not ok:
            rows.append(Assignment(name, type_name, None, None, why))
            continue
        cycle = tokens or default_pipelines(type_name, hadamard)
        token = cycle[seq % len(cycle)]
        if token in PIPELINES:
            rows.append(Assignment(name, type_name, seq, token, f"pattern[{seq} % {len(cycle)}]"))
        else:
            rows.append(Assignment(name, type_name, seq, None,
                                   f"{token!r} is no pipeline name: the backend keeps it on the CPU"))
        seq += 1
    return HybridPlan(pattern, source, tuple(rows))


class HybridSide(PerWeightSide):
    """The NPU side of a hybrid candidate: each weight goes to the :class:`NpuMatmuls` of its pipeline."""

    def __init__(self, plan: HybridPlan, sides: dict):
        super().__init__(plan.offloaded, sides)


def as_text(plan: HybridPlan) -> str:
    """The tensor → pipeline table, with the order's source (UNCONFIRMED) and the skipped weights' reasons."""
    lines = [f"hybrid pattern {printable(repr(plan.pattern))}: numbering order = {plan.order_source}",
             f"  {'seq':>4}  {'tensor':<28} {'type':<6} pipeline"]
    for a in plan.assignments:
        seq = "-" if a.seq is None else str(a.seq)
        where = a.pipeline or "CPU"
        note = "" if a.pipeline else f"  ({a.reason})"
        lines.append(f"  {seq:>4}  {printable(a.tensor):<28} {a.type:<6} {where}{note}")
    return "\n".join(lines)
