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
from layoutscope.report.scan_text import as_text

from layoutscope.cli.outputs import Outputs
from layoutscope.cli.progress import Progress


def run(args) -> int:
    """Scan, print, write reports, and choose the exit code."""
    import os

    from layoutscope.cli import interrupts
    from layoutscope.report.csv_tables import write_scan_csv
    from layoutscope.analyses.scan import ScanOptions, Scanner, worst_verdict
    from layoutscope.cli.commands.compare import existing_files

    options = ScanOptions.from_args(args)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: need at least 1")
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths, inputs=existing_files(args.input))
        from layoutscope.analyses.scan import scan_targets
        from layoutscope.inference.real_input import plan_inputs

        # One decode pass of the model serves every weight of the scan.
        real = plan_inputs(options.input, model, [t.name for t in scan_targets(model, options.filter)[0]],
                           options.rows)
        scanner = Scanner(model, options, jobs=jobs, real=real)
        with Progress("scanning") as update:
            report = scanner.run(lambda row, done, total: update(
                done, total, f"{row.tensor} {row.verdict}",
                f"[{done}/{total}] {row.tensor} {row.verdict} (NMSE {row.nmse:.2e})"))
        if args.end_to_end and not report.interrupted:
            report.end_to_end, report.kld_ok = _end_to_end(model, args), args.kld_ok
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


def _end_to_end(model, args) -> list:
    """The eval sweep's points (k leading layers on the NPU side, the scan's first weight scheme)."""
    from layoutscope.cli.commands.eval import decode_steps, npu_side
    from layoutscope.inference.evaluate import EvalRequest, eval_model
    from layoutscope.measure.settings import RunSettings

    settings = RunSettings.from_args(args)
    settings = settings.with_changes(weight_quant=settings.weight_quants[0])
    backend, _ = npu_side(settings.backend, settings)
    request = EvalRequest(text=args.text, ctx=args.ctx, chunks=args.chunks, scoring=args.score, sweep="first-k",
                          threads=args.threads)
    with Progress("end to end") as update:
        outcome = eval_model(model, request, backend, decode_steps(update), candidates_only=True)
    return [{"k": r.candidate.k, "kld_mean": r.quality.kld_mean, "top1_agreement": r.quality.top1_agreement,
             "tokens": r.quality.tokens} for r in outcome.run.results]
