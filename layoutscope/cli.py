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
        "`layoutscope FILE` opens the terminal UI on FILE; without arguments it opens the bundled sample "
        "(both print `info` instead when stdout is not a terminal).",
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

    npu = argparse.ArgumentParser(add_help=False)
    npu.add_argument("--platform", default="rk3588", help="rk3588 (default), rk3576, rk3566, rk3568, rk3562")
    npu.add_argument("--mm", default="int8", help="int8 (default), int8-fp32, fp16, fp16-fp16, int8-int8, int4")
    npu.add_argument("--weight-quant", default="per-channel", metavar="S",
                     help="per-channel (default), per-tensor, per-group:G, fixed")
    npu.add_argument("--act-quant", default="per-tensor", metavar="S",
                     help="per-tensor (default), per-token, fixed:R")

    matmul = argparse.ArgumentParser(add_help=False, parents=[npu])
    matmul.add_argument("--backend", choices=("npu", "npu-sim"), default=None,
                        help="NPU side (default: npu when available, else npu-sim)")
    matmul.add_argument("--reference", choices=("cpu", "cpu-numpy"), default="cpu",
                        help="CPU side (default: cpu, ggml's own kernel)")
    matmul.add_argument("--input", default="random", metavar="SRC",
                        help="random[:SEED] (default), tokens:ID,ID,... or PATH.npy (float32 M×K)")
    matmul.add_argument("--rows", type=int, default=8, metavar="M", help="rows of random input (default 8)")
    matmul.add_argument("--npu-core", type=int, choices=(0, 1, 2), default=0,
                        help="NPU core for --backend npu (default 0; the matmul API runs on one core)")
    matmul.add_argument("--threads", type=int, default=1, help="threads for ggml's CPU matmul (default 1)")

    compare = sub.add_parser("compare", parents=[common, matmul], help="one matmul on the NPU path vs llama.cpp's CPU",
                             description="Run Y = X @ Wᵀ for one weight through the NPU path (the real NPU, or the exact "
                             "emulator) and through ggml's CPU matmul, and compare them.")
    compare.add_argument("file", help="GGUF file")
    compare.add_argument("tensor", help="a 2-D weight, e.g. blk.0.ffn_up.weight")
    compare.add_argument("--csv", metavar="PATH", default=None, help="write one row per output element (atomically)")
    compare.add_argument("--json", action="store_true", help="print JSON instead of text")
    compare.add_argument("--fail-on", choices=("degraded", "broken"), default=None,
                         help="exit 3 when the verdict is this bad or worse")
    compare.set_defaults(run="compare")

    scan = sub.add_parser("scan", parents=[common, matmul], help="every matmul weight, ranked worst first",
                          description="Compare every matmul weight of a model (NPU path vs ggml's CPU), rank them, and "
                          "say which layers cross the threshold first. Ctrl-C keeps the rows already finished.")
    scan.add_argument("file", help="GGUF file")
    scan.add_argument("--filter", default=None, metavar="REGEX", help="only tensors whose name matches REGEX")
    scan.add_argument("--jobs", type=int, default=None, metavar="N",
                      help="tensors compared in parallel (default: the number of CPUs)")
    scan.add_argument("--csv", metavar="PATH", default=None, help="one row per scanned tensor (atomically)")
    scan.add_argument("--json", metavar="PATH", default=None, help="the whole report as JSON (atomically; '-' for stdout)")
    scan.add_argument("--top", type=int, default=20, metavar="K", help="rows of the ranked table to print (default 20)")
    scan.add_argument("--fail-on", choices=("degraded", "broken"), default=None,
                      help="exit 3 when any tensor's verdict is this bad or worse")
    scan.set_defaults(run="scan")

    diagnose = sub.add_parser("diagnose", parents=[common, npu],
                              help="which known layout bug explains an observed NPU output",
                              description="Re-run the emulator with each known layout bug injected and rank the "
                              "hypotheses by how well they reproduce an output captured from a real backend.")
    diagnose.add_argument("file", help="GGUF file")
    diagnose.add_argument("tensor", help="the weight the observed output came from")
    diagnose.add_argument("--observed", required=True, metavar="Y.npy", help="the backend's output, (M, N)")
    diagnose.add_argument("--input", required=True, metavar="X.npy", help="the activations it was given, float32 (M, K)")
    diagnose.add_argument("--json", action="store_true", help="print JSON instead of text")
    diagnose.set_defaults(run="diagnose")

    diff = sub.add_parser("diff", parents=[common], help="what changed between two models",
                          description="Tensors present in only one file, changes of type or shape, and per-tensor "
                          "metrics of the difference between dequantized values, worst first.")
    diff.add_argument("file", help="GGUF file A (the reference)")
    diff.add_argument("other", help="GGUF file B")
    diff.add_argument("--filter", default=None, metavar="REGEX", help="only tensors whose name matches REGEX")
    diff.add_argument("--csv", metavar="PATH", default=None, help="one row per tensor (atomically)")
    diff.add_argument("--json", action="store_true", help="print JSON instead of text")
    diff.add_argument("--top", type=int, default=20, metavar="K", help="rows of the ranked table to print (default 20)")
    diff.set_defaults(run="diff")

    doctor = sub.add_parser("doctor", parents=[common], help="can this machine run the NPU path? what to do if not",
                            description="Report the SoC, the NPU driver, librknnrt (LAYOUTSCOPE_RKNNRT or the library "
                            "search), which matmul types really run (a tiny matmul each, checked against the "
                            "emulator) and libggml. Exits 0 when the NPU is usable, 1 otherwise.")
    doctor.add_argument("--platform", default=None, help="probe as this platform (default: the detected SoC)")
    doctor.add_argument("--npu-core", type=int, choices=(0, 1, 2), default=0, help="NPU core to probe (default 0)")
    doctor.add_argument("--json", action="store_true", help="print JSON instead of text")
    doctor.set_defaults(run="doctor")
    parser.set_defaults(commands=tuple(sub.choices))  # lets main() tell a file name from a command
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code.

    ``layoutscope FILE`` (a first argument that is no command or option) and a
    bare ``layoutscope`` (the bundled sample) open the terminal UI. When stdout
    is not a terminal they print ``info`` instead, with a note on stderr.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = parser.get_default("commands")
    rest = [a for a in argv if a != "--debug"]
    debug = len(rest) < len(argv)
    if not rest or (len(rest) == 1 and rest[0] not in commands and not rest[0].startswith("-")):
        target = rest[0] if rest else _bundled_sample()
        if sys.stdout.isatty() and sys.stdin.isatty():
            from .tui import run as run_tui

            return run_tui(target)
        print("layoutscope: stdout is not a terminal, so this is `layoutscope info` instead of the terminal UI",
              file=sys.stderr)
        argv = ["info", target] + (["--debug"] if debug else [])
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
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
