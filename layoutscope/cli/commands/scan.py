"""``layoutscope scan``: every matmul weight ranked worst first, per-layer summary, reports.

Progress goes to stderr: a rich bar with an ETA on a terminal, one line per
finished tensor otherwise. Ctrl-C (or SIGTERM, SIGHUP) stops the scan; the
rows already finished are printed and written to ``--csv``/``--json-file``
(marked interrupted), and the exit code is 128 + the signal (130 for Ctrl-C).
"""

from __future__ import annotations

import sys

from layoutscope.measure.metrics import fails
from layoutscope.errors import EXIT_VERDICT
from layoutscope.gguf import Model
from layoutscope.errors import printable, printable_lines

from layoutscope.cli.outputs import Outputs


def options_from(args):
    """:class:`ScanOptions` from parsed arguments."""
    from layoutscope.analyses.scan import ScanOptions, parse_schemes

    return ScanOptions(
        backend=args.backend or "auto", reference=args.reference, platform=args.platform, mm=args.mm,
        weight_quants=parse_schemes(args.weight_quant), act_quant=args.act_quant, input=args.input,
        rows=args.rows, threads=args.threads, npu_core=args.npu_core, filter=args.filter,
    )


def run(args) -> int:
    """Scan, print, write reports, and choose the exit code."""
    import os

    from layoutscope.cli import interrupts
    from layoutscope.report.csv_tables import write_scan_csv
    from layoutscope.analyses.scan import Scanner, worst_verdict
    from layoutscope.cli.commands.compare import existing_files

    options = options_from(args)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: need at least 1")
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths, inputs=existing_files(args.input))
        scanner = Scanner(model, options, jobs=jobs)
        with _progress() as on_row:
            report = scanner.run(on_row)
    outputs.export("--csv", lambda stream: write_scan_csv(stream, report))
    data = report.to_dict()
    outputs.export_json(data)
    outputs.print_report(lambda: as_text(report, top=args.top, written=outputs.notices), lambda: data)
    outputs.finish()
    if report.interrupted:
        print(f"layoutscope: scan interrupted after {len({r.tensor for r in report.rows})} of {report.total} "
              "tensors; the report holds the finished rows", file=sys.stderr)
        return interrupts.exit_code()
    if fails(worst_verdict(report.primary), args.fail_on):
        return EXIT_VERDICT
    return 0


class _progress:
    """A context manager yielding the per-row callback: a rich bar on a terminal, plain lines otherwise."""

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.markup import escape
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            # rich's default console is stdout, which may carry the report itself (--csv -, --json).
            self.bar = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.description}"), console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=None)

            def on_row(row, done, total):
                # Escaped twice over: for the terminal (controls) and for rich (its [markup]).
                description = escape(f"{printable(row.tensor)} {row.verdict}")
                self.bar.update(self.task, completed=done, total=total, description=description)

            return on_row
        self.bar = None

        def on_line(row, done, total):
            print(f"[{done}/{total}] {printable(row.tensor)} {row.verdict} (NMSE {row.nmse:.2e})", file=sys.stderr,
                  flush=True)

        return on_line

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def nmse_text(x: float) -> str:
    """An NMSE as ``1.26e-03`` (nan and inf spelled out)."""
    return f"{x:.2e}" if x == x and abs(x) != float("inf") else str(x)


def as_text(report, top: int = 20, written=()) -> str:
    """The report as readable text: parameters, ranked table, layers, offload advice, skipped."""
    o = report.options
    scanned = len({r.tensor for r in report.rows})
    state = f"INTERRUPTED after {scanned} of {report.total}" if report.interrupted else f"{scanned}"
    lines = [
        f"scan of {report.file}: {state} matmul weights, {len(report.skipped)} other tensors skipped",
        f"  {report.backend} ({o.platform}, --mm {o.mm}, weights {', '.join(o.weight_quants)}, "
        f"activations {o.act_quant}) vs {report.reference}",
    ]
    if report.inputs:
        lines.append("  input: " + "; ".join(f"K={k}: {d}" for k, d in report.inputs.items()))
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
        lines += ["", "  per layer (accumulated NMSE: each layer's mean NMSE added up, an estimate):"]
        lines += ["  " + line for line in layer_lines(layers)]
        advice = advice_lines(layers, o.bands)
        if advice:
            lines += [""] + ["  " + line for line in advice]
    if report.skipped:
        lines += ["", f"  skipped ({len(report.skipped)}):"]
        lines += ["  " + line for line in skipped_lines(report.skipped, top)]
    return printable_lines(line.rstrip() for line in lines)


def layer_lines(layers) -> list[str]:
    """The per-layer table (a header, then one line per :class:`LayerSummary`)."""
    lines = [f"{'layer':<18} {'tensors':>7} {'worst':<9} {'max NMSE':>9} {'mean NMSE':>9} {'over':>4} "
             f"{'accumulated':>11}"]
    for s in layers:
        acc = "" if s.cumulative_nmse is None else nmse_text(s.cumulative_nmse)
        lines.append(f"{s.layer:<18} {s.tensors:>7} {s.worst_verdict:<9} {nmse_text(s.max_nmse):>9} "
                     f"{nmse_text(s.mean_nmse):>9} {s.over_threshold:>4} {acc:>11}")
    return lines


def advice_lines(layers, bands) -> list[str]:
    """Where the model crosses the threshold first and how many leading layers stay within each band.

    Empty when no tensor is in a numbered layer.
    """
    from layoutscope.analyses.scan import offload_advice

    advice = offload_advice(layers, bands)
    if not advice["layers"]:
        return []
    first = advice["first_layer_over_threshold"]
    return [
        f"first layer with a weight over NMSE {bands[0]:g}: {first or 'none'}",
        f"running the first k layers on the NPU: the first {advice['leading_layers_within_ok']} of "
        f"{advice['layers']} stay within ok (accumulated ≤ {bands[0]:g}), the first "
        f"{advice['leading_layers_within_degraded']} within degraded (≤ {bands[1]:g})",
    ]


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
