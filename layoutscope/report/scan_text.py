"""The text of a scan report, shared by ``layoutscope scan`` and the TUI's Scan screen.

The ranked table, the per-layer table, the offload advice and the skipped
tensors, each as lines of plain text (file-borne names escaped).
"""

from __future__ import annotations

from layoutscope.errors import printable_lines
from layoutscope.report.numbers import nmse_text


def as_text(report, top: int = 20, written=()) -> str:
    """The report as readable text: parameters, ranked table, layers, offload advice, skipped."""
    o = report.options
    scanned = len({r.tensor for r in report.rows})
    state = f"INTERRUPTED after {scanned} of {report.total}" if report.interrupted else f"{scanned}"
    lines = [
        f"scan of {report.file}: {state} matmul weights, {len(report.skipped)} other tensors skipped",
        (f"  {report.backend} ({o.platform}, --mm {o.mm}, weights {', '.join(o.weight_quants)}, "
         f"activations {o.act_quant}) vs {report.reference}" if o.pipeline == "classic" else
         f"  {report.backend} ({o.platform}, pipeline {o.pipeline}, seed {o.seed}) vs {report.reference}"),
    ]
    if report.inputs:
        lines.append("  input: " + "; ".join(d if k == "real" else f"K={k}: {d}" for k, d in report.inputs.items()))
    lines += [f"  note: {n}" for n in [*report.notices, *written]]
    sweep = len(o.weight_quants) > 1
    rows = report.primary
    if not rows:
        lines += ["", "  no matmul weight was scanned" + (": the scan was interrupted first" if report.interrupted
                                                         else ": none of the selected tensors is one (see skipped)")]
    else:
        lines += ["", f"  worst first (ranked by weights {o.weight_quants[0]}; 'needs' is the first scheme that is ok):"
                  if sweep else "  worst first:"]
        header = f"  {'#':>3} {'tensor':<28} {'type':<6} {'K×N':>11} {'weight NMSE':>11} {'NMSE':>9} {'SNR dB':>6} " \
                 f"{'cosine':>8} {'max|err|':>9} {'verdict':<8}"
        lines.append(header + (" needs" if sweep else ""))
    for i, r in enumerate(rows[:top], 1):
        name = f"{r.tensor} (+output)" if r.tied_output else r.tensor
        line = (f"  {i:>3} {name:<28} {r.type:<6} {f'{r.K}×{r.N}':>11} {nmse_text(r.weight_nmse):>11} {nmse_text(r.nmse):>9} "
                f"{r.snr_db:>6.1f} {r.cosine:>8.5f} {r.max_abs:>9.3g} {r.verdict:<8}")
        lines.append(line + (f" {r.needs}" if sweep else ""))
    if len(rows) > top:
        lines.append(f"  ... {len(rows) - top} more (--top N, or --csv for all)")
    if sweep:
        by_tensor: dict = {}
        for r in report.rows:
            by_tensor.setdefault(r.tensor, {})[r.weight_quant] = r
        lines += ["", "  matmul NMSE per weight scheme:",
                  f"  {'tensor':<28} " + " ".join(f"{q:>14}" for q in o.weight_quants) + "  needs"]
        for r in rows[:top]:
            cells = by_tensor[r.tensor]
            lines.append(f"  {r.tensor:<28} " + " ".join(
                f"{nmse_text(cells[q].nmse) + ' ' + cells[q].verdict[0]:>14}" if q in cells else f"{'':>14}"
                for q in o.weight_quants) + f"  {r.needs}")
    layers = report.layers()
    if layers:
        measured = "; KLD and top-1: the whole model with the layers up to this one on the NPU side" \
            if report.end_to_end else " (layoutscope scan --end-to-end adds the whole model's KLD per layer)"
        lines += ["", f"  per layer{measured}:"]
        lines += ["  " + line for line in layer_lines(layers)]
        advice = advice_lines(layers, o.bands, report.end_to_end, report.kld_ok)
        if advice:
            lines += [""] + ["  " + line for line in advice]
    if report.skipped:
        lines += ["", f"  skipped ({len(report.skipped)}):"]
        lines += ["  " + line for line in skipped_lines(report.skipped, top)]
    return printable_lines(line.rstrip() for line in lines)


def layer_lines(layers) -> list[str]:
    """The per-layer table (a header, then one line per :class:`LayerSummary`); measured end-to-end columns when present."""
    end_to_end = any(s.kld_mean is not None for s in layers)
    lines = [f"{'layer':<18} {'tensors':>7} {'worst':<9} {'max NMSE':>9} {'mean NMSE':>9} {'over':>4}"
             + (f" {'KLD mean':>9} {'top-1':>7}" if end_to_end else "")]
    for s in layers:
        line = (f"{s.layer:<18} {s.tensors:>7} {s.worst_verdict:<9} {nmse_text(s.max_nmse):>9} "
                f"{nmse_text(s.mean_nmse):>9} {s.over_threshold:>4}")
        if end_to_end and s.kld_mean is not None:
            line += f" {s.kld_mean:>9.3g} {100 * s.top1_agreement:>6.1f}%"
        lines.append(line)
    return lines


def advice_lines(layers, bands, end_to_end=(), kld_ok=None) -> list[str]:
    """Where the model crosses the threshold first and, measured end to end, how many leading layers stay within.

    Empty when no tensor is in a numbered layer.
    """
    from layoutscope.analyses.scan import offload_advice

    advice = offload_advice(layers, bands, end_to_end, kld_ok)
    if not advice["layers"]:
        return []
    first = advice["first_layer_over_threshold"]
    lines = [f"first layer with a weight over NMSE {bands[0]:g}: {first or 'none'}"]
    if "leading_layers_within_kld_ok" in advice:
        last = advice["leading_layers_within_kld_ok"]
        lines.append(f"running the first k layers on the NPU (measured end to end): the first {last} of "
                     f"{advice['layers']} keep the mean KL divergence within {kld_ok:g}"
                     if last is not None else f"even k = 0 exceeds mean KL divergence {kld_ok:g}")
    return lines


def skipped_lines(skipped, top: int = 20) -> list[str]:
    """Per reason, ``- reason (count):`` and its tensors wrapped beneath, at most ``top`` each (file order)."""
    from layoutscope.report.listing import name_list

    by_reason: dict = {}
    for s in skipped:
        by_reason.setdefault(s.reason, []).append(s.tensor)
    lines = []
    for reason, names in by_reason.items():
        lines += name_list(f"- {reason}", names, top, hint="--top N, or --json / --csv for all")
    return lines
