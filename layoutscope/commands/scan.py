"""``layoutscope scan``: every matmul weight ranked worst first, per-layer summary, reports.

Progress goes to stderr: a rich bar with an ETA on a terminal, one line per
finished tensor otherwise. Ctrl-C stops the scan; the rows already finished
are printed and written to ``--csv``/``--json`` (marked interrupted), and the
exit code is 130.
"""

from __future__ import annotations

import json
import sys

from ..compare import fails
from ..errors import EXIT_VERDICT
from ..gguf import Model
from . import print_json

EXIT_INTERRUPTED = 130


def options_from(args):
    """:class:`ScanOptions` from parsed arguments."""
    from ..scan import ScanOptions, parse_schemes

    return ScanOptions(
        backend=args.backend or "auto", reference=args.reference, platform=args.platform, mm=args.mm,
        weight_quants=parse_schemes(args.weight_quant), act_quant=args.act_quant, input=args.input,
        rows=args.rows, threads=args.threads, npu_core=args.npu_core, filter=args.filter,
    )


def run(args) -> int:
    """Scan, print, write reports, and choose the exit code."""
    import os

    from ..scan import Scanner, worst_verdict

    options = options_from(args)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: need at least 1")
    with Model(args.file) as model:
        scanner = Scanner(model, options, jobs=jobs)
        with _progress() as on_row:
            report = scanner.run(on_row)
        written = _write_reports(args, report)
    if args.json != "-":
        sys.stdout.write(as_text(report, top=args.top, written=written))
    if report.interrupted:
        print(f"layoutscope: scan interrupted after {len({r.tensor for r in report.rows})} of {report.total} "
              "tensors; the report holds the finished rows", file=sys.stderr)
        return EXIT_INTERRUPTED
    if fails(worst_verdict(report.primary), args.fail_on):
        return EXIT_VERDICT
    return 0


def _write_reports(args, report) -> list[str]:
    from ..atomic import atomic_text_writer
    from ..export import write_scan_csv

    written = []
    if args.csv:
        rows = write_scan_csv(args.csv, report)
        written.append(f"wrote {rows} rows to {args.csv}")
    if args.json == "-":
        print_json(report.to_dict())
    elif args.json:
        with atomic_text_writer(args.json) as stream:
            json.dump(report.to_dict(), stream, indent=2, allow_nan=False)
            stream.write("\n")
        written.append(f"wrote the JSON report to {args.json}")
    return written


class _progress:
    """A context manager yielding the per-row callback: a rich bar on a terminal, plain lines otherwise."""

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.description}"), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=None)

            def on_row(row, done, total):
                self.bar.update(self.task, completed=done, total=total, description=f"{row.tensor} {row.verdict}")

            return on_row
        self.bar = None

        def on_line(row, done, total):
            print(f"[{done}/{total}] {row.tensor} {row.verdict} (NMSE {row.nmse:.2e})", file=sys.stderr, flush=True)

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
        "  input: " + "; ".join(f"K={k}: {d}" for k, d in report.inputs.items()),
    ]
    lines += [f"  note: {n}" for n in [*report.notices, *written]]
    sweep = len(o.weight_quants) > 1
    rows = report.primary
    lines += ["", f"  worst first (ranked by weights {o.weight_quants[0]}; 'needs' is the first scheme that is ok):"
              if sweep else "  worst first:"]
    header = f"  {'#':>3} {'tensor':<28} {'type':<6} {'K×N':>11} {'weight NMSE':>11} {'NMSE':>9} {'SNR dB':>6} " \
             f"{'cosine':>8} {'max|err|':>9} {'verdict':<8}"
    lines.append(header + (" needs" if sweep else ""))
    for i, r in enumerate(rows[:top], 1):
        line = (f"  {i:>3} {r.tensor:<28} {r.type:<6} {f'{r.K}×{r.N}':>11} {nmse_text(r.weight_nmse):>11} {nmse_text(r.nmse):>9} "
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
        lines += ["  " + line for line in skipped_lines(report.skipped)]
    return "\n".join(line.rstrip() for line in lines) + "\n"


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
    from ..scan import offload_advice

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


def skipped_lines(skipped) -> list[str]:
    """One line per reason: ``- reason: tensor, tensor, ...`` (file order within a reason)."""
    by_reason: dict = {}
    for s in skipped:
        by_reason.setdefault(s.reason, []).append(s.tensor)
    return [f"- {reason}: {', '.join(names)}" for reason, names in by_reason.items()]
