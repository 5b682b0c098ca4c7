"""The ``layoutscope`` command line: parser, dispatch and the error policy.

Subcommands import their heavy modules (numpy, the registry) only when they
run, so ``--help`` and ``--version`` start fast. Every failure a user can
cause prints one line on stderr: exit 2 for bad input, 1 for an unavailable
resource; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ._version import __version__
from .errors import EXIT_OK, classify


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (imports nothing heavy)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback on errors")

    parser = argparse.ArgumentParser(
        prog="layoutscope",
        description="Explain GGUF tensor layouts byte by byte, and how they map to the RKNPU2 NPU. "
        "Without a command, shows `info` for the bundled sample model.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"layoutscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", parents=[common], help="header, architecture, tensor table, warnings",
                          description="Show a GGUF file's header, architecture summary, tensors grouped by layer, and warnings.")
    info.add_argument("file", help="GGUF file (for a split model, its -00001-of-N shard)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--metadata", action="store_true", help="also list every metadata key (big arrays summarised)")
    info.set_defaults(run="info")

    explain = sub.add_parser("explain", parents=[common], help="strides and one element worked out from its bytes",
                             description="Explain a tensor's block layout and strides, and decode one element from its raw bytes.")
    explain.add_argument("file", help="GGUF file")
    explain.add_argument("tensor", help="tensor name, e.g. blk.0.ffn_down.weight")
    explain.add_argument("--at", default="0,0", metavar="ROW,COL",
                         help="element to explain: row (over ne1·ne2·ne3) and col (along ne0); default 0,0")
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.set_defaults(run="explain")

    dump = sub.add_parser("dump", parents=[common], help="dequantized values of a window of a tensor",
                          description="Print dequantized float32 values of a window of rows and columns.")
    dump.add_argument("file", help="GGUF file")
    dump.add_argument("tensor", help="tensor name")
    dump.add_argument("--rows", default=None, metavar="A:B", help="rows to show (default 0:8, or all with --csv; ':' for all)")
    dump.add_argument("--cols", default=None, metavar="A:B", help="columns to show (default 0:8, or all with --csv; ':' for all)")
    dump.add_argument("--csv", metavar="PATH|-", default=None,
                      help="write row,col,value CSV to PATH (atomically) or '-' for stdout")
    dump.set_defaults(run="dump")

    compare = sub.add_parser("compare", parents=[common], help="one matmul on the NPU path vs llama.cpp's CPU",
                             description="Run Y = X @ Wᵀ for one weight through the NPU path (the real NPU, or the exact "
                             "emulator) and through ggml's CPU matmul, and compare them.")
    compare.add_argument("file", help="GGUF file")
    compare.add_argument("tensor", help="a 2-D weight, e.g. blk.0.ffn_up.weight")
    compare.add_argument("--backend", choices=("npu", "npu-sim"), default=None,
                         help="NPU side (default: npu when available, else npu-sim)")
    compare.add_argument("--reference", choices=("cpu", "cpu-numpy"), default="cpu",
                         help="CPU side (default: cpu, ggml's own kernel)")
    compare.add_argument("--platform", default="rk3588", help="rk3588 (default), rk3576, rk3566, rk3568, rk3562")
    compare.add_argument("--mm", default="int8", help="int8 (default), int8-fp32, fp16, fp16-fp16, int8-int8, int4")
    compare.add_argument("--weight-quant", default="per-channel", metavar="S",
                         help="per-channel (default), per-tensor, per-group:G, fixed")
    compare.add_argument("--act-quant", default="per-tensor", metavar="S",
                         help="per-tensor (default), per-token, fixed:R")
    compare.add_argument("--input", default="random", metavar="SRC",
                         help="random[:SEED] (default), tokens:ID,ID,... or PATH.npy (float32 M×K)")
    compare.add_argument("--rows", type=int, default=8, metavar="M", help="rows of random input (default 8)")
    compare.add_argument("--npu-core", type=int, choices=(0, 1, 2), default=0,
                         help="NPU core for --backend npu (default 0; the matmul API runs on one core)")
    compare.add_argument("--threads", type=int, default=1, help="threads for ggml's CPU matmul (default 1)")
    compare.add_argument("--csv", metavar="PATH", default=None, help="write one row per output element (atomically)")
    compare.add_argument("--json", action="store_true", help="print JSON instead of text")
    compare.add_argument("--fail-on", choices=("degraded", "broken"), default=None,
                         help="exit 3 when the verdict is this bad or worse")
    compare.set_defaults(run="compare")

    doctor = sub.add_parser("doctor", parents=[common], help="can this machine run the NPU path? what to do if not",
                            description="Report the SoC, the NPU driver, librknnrt (LAYOUTSCOPE_RKNNRT or the library "
                            "search), which matmul types really run (a tiny matmul each, checked against the "
                            "emulator) and libggml. Exits 0 when the NPU is usable, 1 otherwise.")
    doctor.add_argument("--platform", default=None, help="probe as this platform (default: the detected SoC)")
    doctor.add_argument("--npu-core", type=int, choices=(0, 1, 2), default=0, help="NPU core to probe (default 0)")
    doctor.add_argument("--json", action="store_true", help="print JSON instead of text")
    doctor.set_defaults(run="doctor")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if args.command is None:
        args = parser.parse_args(["info", _bundled_sample()])
    try:
        from .commands import run

        return run(args.run, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `layoutscope dump ... | head` closed the pipe: not an error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the error policy lives here
        if debug:
            raise
        code, line = classify(exc)
        print(f"layoutscope: error: {line}", file=sys.stderr)
        return code


def _bundled_sample() -> str:
    from .samples import path

    return str(path("tiny-llama-q8_0.gguf"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
