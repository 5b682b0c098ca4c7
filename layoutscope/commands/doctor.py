"""``layoutscope doctor``: the NPU stack on this machine, one line per check."""

from __future__ import annotations

from ..errors import EXIT_OK, EXIT_UNAVAILABLE
from . import print_json


def run(args) -> int:
    """Print the report; exit 0 when the NPU is usable, 1 otherwise."""
    from ..doctor import diagnose

    report = diagnose(platform=args.platform, core=args.npu_core)
    if args.json:
        print_json(report.to_dict())
    else:
        for check in report.checks:
            print(check.line())
        verdict = ("NPU usable: `layoutscope compare` runs on the NPU by default" if report.npu_usable else
                   "NPU not usable here: `layoutscope compare` will run npu-sim, the exact emulator")
        print(verdict)
    return EXIT_OK if report.npu_usable else EXIT_UNAVAILABLE
