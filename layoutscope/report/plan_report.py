"""The ``plan`` report: JSON data, the text a user reads, the sensitivity CSV, and the plan file's details.

The text puts the answer first (what goes to the NPU, with which pipeline,
and the verified end-to-end figures), then the table per layer, the
``RKNPU_HYBRID`` line with the per-tensor table it relies on, and last how
the answer was searched (evaluations, time). An infeasible budget is
reported with the smallest single-unit KL divergence measured.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, TextIO

from layoutscope.backend.community.eligibility import ELIGIBLE_TYPES
from layoutscope.errors import printable
from layoutscope.planning.planner import PlanResult
from layoutscope.report.summary import human_bytes

#: The sensitivity CSV's columns: one row per unit and pipeline measured.
CSV_COLUMNS = ("unit", "layer", "weights", "bytes", "macs", "pipeline", "kld_mean", "kld_p99", "top1_agreement",
               "planned")


@dataclass
class PlanContext:
    """What the plan ran on: model, text, engine facts, the NPU side, the settings, notices."""

    model: str
    text: str
    engine: dict
    backend: str
    settings: dict
    chunks: int
    notices: list = field(default_factory=list)


def kept_line(kept, verb: str) -> str:
    """``kept on the CPU: 108 weights (27 Q4_K, 81 Q5_0): …``: the weights left out by type, and why.

    ``kept`` holds ``(WeightFacts, why)`` pairs; ``verb`` says what ``--any-type``
    would do with them in this command (``plans``, ``offloads``).
    """
    types = Counter(w.type for w, _ in kept)
    listed = ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
    return (f"kept on the CPU: {len(kept)} weights ({listed}): the community backend offloads only "
            f"{', '.join(ELIGIBLE_TYPES)} (--any-type {verb} them anyway, as a what-if)")


def _figure(x: float, spec: str = ".4g") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, spec)


def quality_dict(q) -> dict:
    """A :class:`~layoutscope.inference.quality.Quality` as the JSON reports name its figures."""
    return {"tokens": q.tokens, "kld": q.kld_dict(), "top1_agreement": q.top1_agreement,
            "ppl": {"reference": q.ppl_reference, "candidate": q.ppl_candidate,
                    "delta": q.ppl_candidate - q.ppl_reference}}


def layer_rows(result: PlanResult) -> list[dict]:
    """Per layer (and the head): its offloadable weights, what the plan sends where, bytes, and the verdict."""
    units = {row.unit.label: row for row in result.sensitivity}
    groups: dict = {}
    for w in result.facts:
        groups.setdefault("output" if w.layer is None else f"blk.{w.layer}", []).append(w)
    verdict = _verdicts(result)
    rows = []
    for label, members in groups.items():
        planned = [w for w in members if w.name in result.assignment]
        pipelines = Counter(result.assignment[w.name] for w in planned)
        row = units.get(label)
        rows.append({
            "layer": label, "weights": len(members),
            "offloadable": sum(1 for w in members if w.name not in {k.name for k, _ in result.kept}),
            "offloaded": len(planned),
            "pipelines": dict(pipelines),
            "bytes": sum(w.bytes for w in members), "bytes_offloaded": sum(w.bytes for w in planned),
            "alone_kld": {p: q.kld_mean for p, q in row.measured.items()} if row is not None else {},
            "status": verdict.get(label, "kept: no offloadable weight" if row is None else "per weight"),
        })
    return rows


def _verdicts(result: PlanResult) -> dict:
    """Unit label → why it is or is not in the plan."""
    budget = result.options.budget
    out = {}
    for c in result.greedy.chosen:
        out[c.unit.label] = f"planned: {c.pipeline}" + (
            f" (the plan refused it on {', '.join(c.instead_of)})" if c.instead_of else "")
    for c, kld in result.greedy.rejected:
        out[c.unit.label] = f"left out: the plan with it measured KLD {_figure(kld, '.3g')} > {budget:g}"
    for c in result.greedy.untried:
        out[c.unit.label] = "untried: the search stopped after failures in a row"
    for row in result.greedy.over_budget:
        pipeline, kld = row.least_sensitive()
        out[row.unit.label] = f"over budget alone: best {pipeline} KLD {_figure(kld, '.3g')}"
    return out


def as_dict(result: PlanResult, context: PlanContext, model) -> dict:
    """The JSON report."""
    options = result.options
    unit, pipeline, kld = result.minimum
    hybrid = result.hybrid
    return {
        "model": context.model, "text": context.text, "chunks": context.chunks, "engine": context.engine,
        "options": {"kld_budget": options.budget, "pipelines": list(options.pipelines),
                    "objective": options.objective, "unit": options.unit, "any_type": options.any_type,
                    "backend": context.backend, "settings": context.settings},
        "feasible": result.feasible, "answered": result.answered,
        "minimum_alone": {"unit": unit, "pipeline": pipeline, "kld_mean": kld},
        "plan": {
            "assignment": result.assignment,
            "share": {"bytes": result.share("bytes"), "macs": result.share("macs")},
            "measured": quality_dict(result.verified) if result.verified is not None else None,
            "hadamard_cpu_ops_per_token": result.hadamard_ops(model),
            "layers": layer_rows(result),
        },
        "rknpu_hybrid": None if hybrid is None else {
            "line": hybrid.line or None, "why_not": hybrid.why_not or None,
            "order": "UNCONFIRMED", "table": hybrid.table.to_dict() if hybrid.table is not None else None},
        "kept_on_cpu": [{"tensor": w.name, "type": w.type, "why": why} for w, why in result.kept],
        "sensitivity": [{"unit": row.unit.label, "weights": list(row.unit.names), "bytes": row.unit.size("bytes"),
                         "macs": row.unit.size("macs"),
                         "measured": {p: {"kld_mean": q.kld_mean, "kld_p99": q.kld_p99,
                                          "top1_agreement": q.top1_agreement} for p, q in row.measured.items()}}
                        for row in result.sensitivity],
        "search": {"evaluations": result.passes,
                   "steps": [{"added": list(s.added), "accepted": s.accepted, "kld_mean": s.quality.kld_mean}
                             for s in result.greedy.steps],
                   "seconds": result.seconds},
        "notices": context.notices,
    }


def as_text(result: PlanResult, context: PlanContext, model, written: list = ()) -> str:
    """The report a user reads: the answer first, then the table per layer, the RKNPU_HYBRID line, the search."""
    options = result.options
    out = [f"model: {printable(context.model)}",
           f"text: {printable(context.text)}; {context.chunks} chunk(s) of up to {context.engine['ctx']} tokens",
           f"plan: mean KL divergence ≤ {options.budget:g} · per {options.unit} · maximising {options.objective} · "
           f"NPU side {context.backend} · pipelines {', '.join(options.pipelines)} (cheapest first)"]
    if result.kept:
        out.append(kept_line(result.kept, "plans"))
    out.append("")
    unit, pipeline, kld = result.minimum
    if not result.feasible:
        where = f"{unit} on {pipeline}" if unit else "no unit could be measured"
        out.append(f"no plan: the budget {options.budget:g} is infeasible: the least sensitive unit alone, {where}, "
                   f"already gives mean KL divergence {_figure(kld, '.4g')}")
    elif not result.answered:
        measured = _figure(result.verified.kld_mean) if result.verified is not None else "nothing"
        out.append(f"no plan: the verification measured mean KL divergence {measured} > {options.budget:g}; "
                   "the search's measurement did not repeat (is llama.cpp deterministic here?)")
    else:
        q = result.verified
        hadamard = result.hadamard_ops(model)
        total_macs = sum(w.macs for w in result.facts)
        out += [f"answer (verified by eval): {len(result.assignment)} of {len(result.facts)} matmul weights on "
                f"the NPU · {100 * result.share('bytes'):.1f}% of weight bytes · "
                f"{100 * result.share('macs'):.1f}% of multiply-accumulates",
                f"  KL divergence mean {_figure(q.kld_mean)} ± {_figure(q.kld_stderr, '.2g')}   p99 "
                f"{_figure(q.kld_p99)}   max {_figure(q.kld_max)}",
                f"  top-1 agreement {_figure(100 * q.top1_agreement, '.2f')}%   perplexity "
                f"{_figure(q.ppl_reference)} → {_figure(q.ppl_candidate)} "
                f"(Δ {_figure(q.ppl_candidate - q.ppl_reference, '+.4g')})",
                "  HADAMARD cost: " + (
                    f"~{hadamard:,} CPU operations per token for the rotations "
                    f"({100 * hadamard / total_macs:.2f}% of the model's matmul multiply-accumulates)"
                    if hadamard else "none (no HADAMARD pipeline in the plan)")]
    out += ["", "per layer",
            f"  {'layer':<8} {'offloaded':>9} {'bytes':>10}  {'pipeline(s)':<26} status"]
    for row in layer_rows(result):
        pipes = ", ".join(f"{p}" + (f"×{n}" if n > 1 and len(row['pipelines']) > 1 else "")
                          for p, n in row["pipelines"].items()) or "CPU"
        out.append(f"  {printable(row['layer']):<8} {row['offloaded']:>4}/{row['offloadable']:<4} "
                   f"{human_bytes(row['bytes_offloaded']):>10}  {pipes:<26} {row['status']}")
    hybrid = result.hybrid
    if hybrid is not None:
        out.append("")
        if hybrid.line:
            from layoutscope.inference.hybrid import UNCONFIRMED, as_text as hybrid_table

            out += ["for the community backend (read back through eval --hybrid's assignment):",
                    f"  {hybrid.line}",
                    f"  UNCONFIRMED: {UNCONFIRMED}; the line relies on this per-tensor order:",
                    *("  " + line for line in hybrid_table(hybrid.table).splitlines())]
        else:
            out.append(f"no RKNPU_HYBRID line: {hybrid.why_not}")
    seconds = result.seconds
    out += ["", f"search: {result.passes} evaluation(s) of the whole model in "
                f"{sum(seconds.values()):.1f} s (sensitivity {seconds.get('sensitivity', 0):.1f} s, greedy "
                f"{seconds.get('greedy', 0):.1f} s, verification {seconds.get('verify', 0):.1f} s)"]
    out += [f"note: {n}" for n in context.notices]
    out += list(written)
    return "\n".join(out) + "\n"


def write_sensitivity_csv(stream: TextIO, result: PlanResult) -> int:
    """One row per unit and pipeline measured; returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for row in result.sensitivity:
        planned = result.assignment.get(row.unit.names[0], "")
        for pipeline, q in row.measured.items():
            layer = row.unit.layer
            writer.writerow([row.unit.label, "" if layer is None else layer, len(row.unit.names),
                             row.unit.size("bytes"), row.unit.size("macs"), pipeline, repr(q.kld_mean),
                             repr(q.kld_p99), repr(q.top1_agreement), planned])
            rows += 1
    return rows


def plan_details(result: PlanResult) -> dict:
    """What a plan file records beside the assignment: how it was planned, its layers, its RKNPU_HYBRID line."""
    options = result.options
    return {"unit": options.unit, "objective": options.objective, "pipelines": list(options.pipelines),
            "any_type": options.any_type, "share": {"bytes": result.share("bytes"), "macs": result.share("macs")},
            "rknpu_hybrid": result.hybrid.line or None if result.hybrid is not None else None,
            "rknpu_hybrid_order": "UNCONFIRMED", "layers": layer_rows(result)}
