"""The ``eval`` report: JSON data, the text a user reads, and the per-weight CSV.

The main candidate is the ``--npu`` selection; a ``--sweep first-k`` adds one
row per k, a ``--sweep pipelines`` one row per community pipeline. Per
layer, "entire" is the hidden state against the reference (the error
accumulated up to there); per weight, "single" is its NPU-side output against
llama.cpp's on the same input (the error it adds by itself).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from typing import Optional, TextIO

from layoutscope.errors import printable
from layoutscope.inference.evaluate import CandidateResult, EvalRun
from layoutscope.inference.selection import layer_of
from layoutscope.report.chart import column_chart
from layoutscope.report.numbers import nmse_text

#: The CSV's columns, one row per NPU-side weight.
CSV_COLUMNS = ("tensor", "layer", "nmse", "cosine", "rows")


@dataclass
class EvalContext:
    """What the run was: model, text, engine facts, the NPU side and its options, the sweep's bound."""

    model: str
    text: str
    scoring: str
    engine: dict
    backend: str
    options: dict
    weights: list
    kld_ok: float = 0.01
    notices: list = field(default_factory=list)
    #: The sign seed of the main candidate (``--seed``), when ``--seeds`` ran others.
    seed: int = 0
    #: The ``--hybrid`` tensor → pipeline table (:class:`~layoutscope.inference.hybrid.HybridPlan`), if any.
    hybrid: Optional[object] = None
    #: ``--plan``'s re-verification: the file, its budget, the figure it recorded, this run's, and the verdict.
    plan_check: Optional[dict] = None
    #: ``--sweep pipelines``: what each pipeline offloaded and what stayed on the CPU
    #: (:class:`~layoutscope.planning.pipeline_sweep.PipelineSweep`), if any.
    pipelines: Optional[object] = None


def last_within(sweep: list, bound: float) -> Optional[int]:
    """The largest k whose every point up to it keeps the mean KL divergence within ``bound`` (None: not even k=0)."""
    last = None
    for result in sweep:  # k ascending
        if not result.quality.kld_mean <= bound:
            break
        last = result.candidate.k
    return last


def split_results(run: EvalRun) -> tuple:
    """``(main, first-k sweep points, seed runs, pipeline sweep points)``: the ``--npu`` selection, then the others."""
    rest = run.results[1:]
    return (run.results[0], [r for r in rest if r.candidate.k is not None],
            [r for r in rest if r.candidate.seed is not None],
            [r for r in rest if r.candidate.pipeline is not None])


def seed_spread(main: CandidateResult, seeds: list, first_seed: int) -> dict:
    """Per seed the end-to-end figures, and their spread (min, max, standard deviation) over the seeds."""
    import statistics

    rows = [{"seed": first_seed, "kld_mean": main.quality.kld_mean, "top1_agreement": main.quality.top1_agreement,
             "ppl": main.quality.ppl_candidate}]
    rows += [{"seed": r.candidate.seed, "kld_mean": r.quality.kld_mean, "top1_agreement": r.quality.top1_agreement,
              "ppl": r.quality.ppl_candidate} for r in seeds]
    spread = {key: {"min": min(row[key] for row in rows), "max": max(row[key] for row in rows),
                    "std": statistics.pstdev(row[key] for row in rows)}
              for key in ("kld_mean", "top1_agreement", "ppl")}
    return {"runs": rows, "spread": spread}


def _layers(result: CandidateResult) -> list:
    return [{"layer": index, "hidden_nmse": tally.nmse, "hidden_cosine": tally.cosine}
            for index, tally in sorted(result.layers.items())]


def _weights(result: CandidateResult) -> list:
    return [{"tensor": name, "layer": layer_of(name), "nmse": tally.nmse, "cosine": tally.cosine, "rows": tally.rows}
            for name, tally in result.weights.items()]


def as_dict(run: EvalRun, context: EvalContext) -> dict:
    """The JSON report (the keys the issue fixes, and more)."""
    main, sweep, seeds, by_pipeline = split_results(run)
    q = main.quality
    data = {
        "model": context.model,
        "text": context.text,
        "scoring": context.scoring,
        "complete": run.complete,
        "chunks": {"done": run.chunks_done, "total": run.chunks_total},
        "tokens": q.tokens,
        "npu": {"selected": list(main.candidate.selected), "backend": context.backend, "options": context.options},
        "kld": q.kld_dict(),
        "top1_agreement": q.top1_agreement,
        "ppl": {"reference": q.ppl_reference, "candidate": q.ppl_candidate},
        # Nothing compared (interrupted before the first chunk) is not "identical".
        "identical_logits": main.identical_logits and run.chunks_done > 0,
        "layers": _layers(main),
        "weights": _weights(main),
        "engine": context.engine,
        "seconds": {"reference": run.reference_seconds, "candidate": main.seconds,
                    "requantize": run.requantize_seconds},
        "notices": context.notices,
    }
    if context.hybrid is not None:
        data["hybrid"] = context.hybrid.to_dict()
    if context.plan_check is not None:
        data["plan"] = context.plan_check
    if seeds:
        data["seeds"] = seed_spread(main, seeds, context.seed)
    if sweep:
        data["sweep"] = [{"k": r.candidate.k, "kld_mean": r.quality.kld_mean, "kld_p99": r.quality.kld_p99,
                          "top1_agreement": r.quality.top1_agreement, "ppl": r.quality.ppl_candidate,
                          "weights": len(r.candidate.selected)} for r in sweep]
        data["sweep_kld_ok"] = {"bound": context.kld_ok, "last_k": last_within(sweep, context.kld_ok)}
    if context.pipelines is not None:
        data.update(_pipelines_dict(by_pipeline, context))
    return data


def _pipelines_dict(results: list, context: EvalContext) -> dict:
    """``--sweep pipelines`` as data: a row per pipeline, what was offloaded and kept, the pipelines within bound."""
    from layoutscope.planning.pipeline_sweep import sweep_rows, within

    sweep = context.pipelines
    rows = sweep_rows(results)
    return {"pipelines": rows,
            "pipelines_offload": {
                "weights": [w.name for w in sweep.offloaded],
                "bytes": sum(w.bytes for w in sweep.offloaded),
                "kept": [{"tensor": w.name, "type": w.type, "why": why} for w, why in sweep.kept],
                "any_type": sweep.any_type},
            "pipelines_kld_ok": {"bound": context.kld_ok, "within": within(rows, context.kld_ok)}}


def _figure(x: float, spec: str = ".4g") -> str:
    return "n/a" if not math.isfinite(x) else format(x, spec)


def as_text(run: EvalRun, context: EvalContext, written: list = (), top: int = 10) -> str:
    """The report a user reads: the verdict first, then where the error enters and where it grows."""
    main, sweep, seeds, by_pipeline = split_results(run)
    q = main.quality
    selected = main.candidate.selected
    out = [f"model: {printable(context.model)}",
           f"text: {printable(context.text)}; {q.tokens} positions scored ({context.scoring}), "
           f"{run.chunks_done} chunk(s) of up to {context.engine['ctx']} tokens"
           + ("" if run.complete else f" (interrupted: {run.chunks_done} of {run.chunks_total} chunks)"),
           f"NPU side: {context.backend} on {len(selected)} of {len(context.weights)} matmul weights"
           + (f" ({', '.join(f'{k} {v}' for k, v in context.options.items())})" if context.options else ""),
           ""]
    if q.tokens:
        out += [
            f"KL divergence   mean {_figure(q.kld_mean)} ± {_figure(q.kld_stderr, '.2g')}   median "
            f"{_figure(q.kld_median)}   p99 {_figure(q.kld_p99)}   max {_figure(q.kld_max)}",
            f"top-1 agreement {_figure(100 * q.top1_agreement, '.2f')}%",
            f"perplexity      reference {_figure(q.ppl_reference)}   candidate {_figure(q.ppl_candidate)}   "
            f"(Δ {_figure(q.ppl_candidate - q.ppl_reference, '+.4g')})",
        ]
        if main.identical_logits and run.chunks_done:
            out.append("logits identical to the reference, bit for bit")
    else:
        out.append("no position was scored (interrupted before the first chunk finished)")
    if main.layers:
        out += ["", "per layer: hidden state after the layer vs the reference (entire: the error so far)",
                f"{'layer':>5}  {'NMSE':>10}  {'cosine':>10}  NPU-side weights (single: mean NMSE each adds)"]
        per_layer = {}
        for name, tally in main.weights.items():
            per_layer.setdefault(layer_of(name), []).append(tally.nmse)
        for index, tally in sorted(main.layers.items()):
            own = per_layer.get(index, [])
            added = f"{len(own)} · {nmse_text(sum(own) / len(own))}" if own else "-"
            out.append(f"{index:>5}  {nmse_text(tally.nmse):>10}  {tally.cosine:>10.6f}  {added}")
    if main.weights:
        ranked = sorted(main.weights.items(), key=lambda item: -item[1].nmse if math.isfinite(item[1].nmse) else -math.inf)
        shown = ranked[:top] if top else []
        if shown:
            out += ["", f"worst single weights (of {len(ranked)}): NPU side vs llama.cpp on the same input",
                    *(f"  {printable(name):<40} NMSE {nmse_text(tally.nmse)}" for name, tally in shown)]
    if seeds:
        spread = seed_spread(main, seeds, context.seed)
        out += ["", f"over {len(spread['runs'])} sign seeds (upstream seeds them with a tensor's address, so a "
                    "board run may land anywhere in this spread):",
                f"{'seed':>6}  {'KLD mean':>10}  {'top-1':>7}  {'PPL':>9}"]
        out += [f"{row['seed']:>6}  {_figure(row['kld_mean']):>10}  {_figure(100 * row['top1_agreement'], '.1f'):>6}%  "
                f"{_figure(row['ppl']):>9}" for row in spread["runs"]]
        k = spread["spread"]["kld_mean"]
        out.append(f"KLD mean from {_figure(k['min'])} to {_figure(k['max'])} (std {_figure(k['std'], '.2g')})")
    if sweep:
        out += ["", "sweep: the first k layers on the NPU side",
                f"{'k':>3}  {'weights':>7}  {'KLD mean':>10}  {'KLD p99':>10}  {'top-1':>7}  {'PPL':>9}"]
        for r in sweep:
            s = r.quality
            out.append(f"{r.candidate.k:>3}  {len(r.candidate.selected):>7}  {_figure(s.kld_mean):>10}  "
                       f"{_figure(s.kld_p99):>10}  {_figure(100 * s.top1_agreement, '.1f'):>6}%  "
                       f"{_figure(s.ppl_candidate):>9}")
        ks = [r.candidate.k for r in sweep]
        out += ["", *column_chart(ks, [r.quality.kld_mean for r in sweep], "mean KL divergence against k"),
                "", *column_chart(ks, [r.quality.top1_agreement for r in sweep], "top-1 agreement against k",
                                  low=0.0, high=1.0, y_text=lambda v: f"{v:.0%}")]
        last = last_within(sweep, context.kld_ok)
        out += ["", (f"the first {last} layer(s) stay within mean KL divergence {context.kld_ok:g} (--kld-ok)"
                     if last is not None else f"even k = 0 exceeds --kld-ok {context.kld_ok:g}")]
    if context.pipelines is not None:
        out += ["", *_pipelines_text(by_pipeline, context)]
    out += ["", f"time: reference {run.reference_seconds:.2f} s, candidate {main.seconds:.2f} s, "
                f"one-time requantization {run.requantize_seconds:.2f} s"]
    if context.hybrid is not None:
        from layoutscope.inference.hybrid import as_text as hybrid_table

        out += ["", hybrid_table(context.hybrid)]
    out += [f"note: {n}" for n in context.notices]
    out += list(written)
    return "\n".join(out) + "\n"


def _pipelines_text(results: list, context: EvalContext) -> list:
    """``--sweep pipelines``: the table the community backend's README publishes for one model, for this one."""
    from layoutscope.planning.pipeline_sweep import sweep_rows, within
    from layoutscope.report.plan_report import kept_line
    from layoutscope.report.summary import human_bytes

    sweep = context.pipelines
    rows = sweep_rows(results)
    offloaded = len(sweep.offloaded)
    head = (f"sweep: each community pipeline on the {offloaded} weight(s) the backend would offload "
            f"({human_bytes(sum(w.bytes for w in sweep.offloaded))})")
    if sweep.any_type:
        head += "; --any-type: every type offloaded, including those the backend keeps on the CPU (a what-if)"
    out = [head]
    if sweep.kept:
        out.append(kept_line(sweep.kept, "offloads"))
    out.append(f"{'pipeline':<16}  {'weights':>7}  {'KLD mean':>10}  {'KLD p99':>10}  {'top-1':>7}  {'PPL':>9}  "
               f"{'ΔPPL':>9}")
    for row in rows:
        out.append(f"{row['pipeline']:<16}  {row['weights']:>7}  {_figure(row['kld_mean']):>10}  "
                   f"{_figure(row['kld_p99']):>10}  {_figure(100 * row['top1_agreement'], '.2f'):>6}%  "
                   f"{_figure(row['ppl']):>9}  {_figure(row['delta_ppl'], '+.4g'):>9}")
    ok = within(rows, context.kld_ok)
    out.append(f"within mean KL divergence {context.kld_ok:g} (--kld-ok): {', '.join(ok)}" if ok else
               f"no pipeline keeps the mean KL divergence within {context.kld_ok:g} (--kld-ok) on these weights")
    if any("HADAMARD" in row["pipeline"] for row in rows):
        out.append(f"HADAMARD rows use sign seed {context.seed}; the board seeds its signs with tensor addresses, "
                   "so a board run is one draw (eval --pipeline W8A8_HADAMARD --seeds N shows the spread)")
    return out


def write_weights_csv(stream: TextIO, run: EvalRun) -> int:
    """One row per NPU-side weight of the main candidate; returns the row count."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = _weights(run.results[0])
    for row in rows:
        writer.writerow([row[c] if row[c] is not None else "" for c in CSV_COLUMNS])
    return len(rows)
