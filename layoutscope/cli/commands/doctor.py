"""``layoutscope doctor``: the NPU stack on this machine, one line per check."""

from __future__ import annotations

from layoutscope.errors import EXIT_OK, EXIT_UNAVAILABLE
from layoutscope.cli.outputs import Outputs


def run(args) -> int:
    """Print the report (and write ``--json-file``); exit 0 when the NPU is usable, 1 otherwise."""
    from layoutscope.analyses.doctor import diagnose

    outputs = Outputs(args)
    report = diagnose(platform=args.platform, core=args.npu_core)
    outputs.export_json(report.to_dict())
    outputs.print_report(lambda: as_text(report), report.to_dict)
    outputs.finish()
    return EXIT_OK if report.npu_usable else EXIT_UNAVAILABLE


def as_text(report) -> str:
    """One line per check, then the verdict."""
    verdict = ("NPU usable: `layoutscope compare` runs on the NPU by default" if report.npu_usable else
               "NPU not usable here: `layoutscope compare` will run npu-sim, the exact emulator")
    return "".join(check.line() + "\n" for check in report.checks) + verdict + "\n"
