"""``layoutscope diff``: what changed between two models, worst first."""

from __future__ import annotations

from layoutscope.gguf import Model
from layoutscope.report.listing import name_list
from layoutscope.report.numbers import fixed_text
from layoutscope.errors import printable_lines
from layoutscope.cli.outputs import Outputs


def run(args) -> int:
    """Diff, write the CSV and JSON reports, print text or JSON."""
    from layoutscope.analyses.diff import diff_models
    from layoutscope.report.csv_tables import write_diff_csv

    with Model(args.file) as a, Model(args.other) as b:
        outputs = Outputs(args, models=a.paths + b.paths)
        report = diff_models(a, b, args.filter)
    outputs.export("--csv", lambda stream: write_diff_csv(stream, report))
    data = report.to_dict()
    data["notices"] = list(outputs.notices)
    outputs.export_json(data)
    outputs.print_report(lambda: as_text(report, args.top, outputs.notices), lambda: data)
    outputs.finish()
    return 0


def as_text(report, top: int = 20, notices=()) -> str:
    """The diff as readable text."""
    ranked = report.ranked()
    counts: dict = {}
    for r in ranked:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no common tensors"
    lines = [f"A: {report.file_a}", f"B: {report.file_b}",
             f"  {len(ranked)} tensors in both ({summary}); {len(report.only_a)} only in A, {len(report.only_b)} only in B"]
    lines += [f"  note: {n}" for n in [*report.notes, *notices]]
    for title, names in (("only in A", report.only_a), ("only in B", report.only_b)):
        if names:
            lines += [""] + ["  " + line for line in name_list(title, names, top, hint="--top N, or --csv for all")]
    moved = [r for r in ranked if r.status in ("retyped", "reshaped")]
    if moved:
        lines += ["", "  type or shape changes:"]
        lines += [f"  - {r.tensor}: {r.type_a} {list(r.ne_a)} → {r.type_b} {list(r.ne_b)}" for r in moved]
    changed = [r for r in ranked if r.status != "identical"]
    if changed:
        lines += ["", "  differences, worst first (B against A):",
                  f"  {'tensor':<32} {'status':<11} {'types':<13} {'NMSE':>9} {'SNR dB':>7} {'max|err|':>9}"]
        for r in changed[:top]:
            types = r.type_a if r.type_a == r.type_b else f"{r.type_a}→{r.type_b}"
            lines.append(f"  {r.tensor:<32} {r.status:<11} {types:<13} {fixed_text(r.nmse, '.2e'):>9} "
                         f"{fixed_text(r.snr_db, '.1f'):>7} {fixed_text(r.max_abs, '.3g'):>9} {r.note}".rstrip())
        if len(changed) > top:
            lines.append(f"  ... {len(changed) - top} more (--top N, or --csv for all)")
    elif ranked:
        lines += ["", "  every common tensor is byte-identical"]
    return printable_lines(lines)
