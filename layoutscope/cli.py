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


#: How every command writes its outputs (the top-level --help's epilog; the README says the same).
OUTPUT_CONVENTIONS = """\
outputs:
  --json              print the command's report as JSON on stdout instead of text
  --json-file PATH|-  also write the JSON report to PATH ('-' is stdout)
  --csv PATH|-        write the command's CSV export to PATH ('-' is stdout)
  A file is written atomically (a temporary file beside it, then a rename), through
  symlinks, with the umask's mode or the existing file's; devices and FIFOs are written
  directly. An export on stdout replaces the text report. A path that is an input model,
  a directory, or not writable is refused before any work (exit 2); a full disk is exit 1.
  `--json PATH` (the old spelling of scan) still works, with a note: use --json-file PATH."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (imports nothing heavy)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback on errors")
    report = argparse.ArgumentParser(add_help=False)
    report.add_argument("--json", action="store_true", help="print the report as JSON on stdout instead of text")
    report.add_argument("--json-file", metavar="PATH|-", default=None,
                        help="also write the JSON report to PATH (atomically; '-' for stdout)")

    parser = argparse.ArgumentParser(
        prog="layoutscope",
        description="Explain GGUF tensor layouts byte by byte, and how they map to the RKNPU2 NPU. "
        "`layoutscope FILE` opens the terminal UI on FILE; without arguments it opens the bundled sample "
        "(both print `info` instead when stdout is not a terminal).",
        parents=[common],
        epilog=OUTPUT_CONVENTIONS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"layoutscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", parents=[common, report], help="header, architecture, tensor table, warnings",
                          description="Show a GGUF file's header, architecture summary, tensors grouped by layer, and warnings.")
    info.add_argument("file", help="GGUF file (for a split model, its -00001-of-N shard)")
    info.add_argument("--metadata", action="store_true", help="also list every metadata key (big arrays summarised)")
    info.set_defaults(run="info")

    explain = sub.add_parser("explain", parents=[common, report], help="strides and one element worked out from its bytes",
                             description="Explain a tensor's block layout and strides, and decode one element from its raw bytes.")
    explain.add_argument("file", help="GGUF file")
    explain.add_argument("tensor", help="tensor name, e.g. blk.0.ffn_down.weight")
    explain.add_argument("--at", default="0,0", metavar="ROW,COL",
                         help="element to explain: row (over ne1·ne2·ne3) and col (along ne0); default 0,0")
    explain.set_defaults(run="explain")

    dump = sub.add_parser("dump", parents=[common], help="dequantized values of a window of a tensor",
                          description="Print dequantized float32 values of a window of rows and columns.")
    dump.add_argument("file", help="GGUF file")
    dump.add_argument("tensor", help="tensor name")
    dump.add_argument("--rows", default=None, metavar="A:B", help="rows to show (default 0:8, or all with --csv; ':' for all)")
    dump.add_argument("--cols", default=None, metavar="A:B", help="columns to show (default 0:8, or all with --csv; ':' for all)")
    dump.add_argument("--csv", metavar="PATH|-", default=None,
                      help="write row,col,value CSV to PATH (atomically) or '-' for stdout, instead of the grid")
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

    compare = sub.add_parser("compare", parents=[common, report, matmul], help="one matmul on the NPU path vs llama.cpp's CPU",
                             description="Run Y = X @ Wᵀ for one weight through the NPU path (the real NPU, or the exact "
                             "emulator) and through ggml's CPU matmul, and compare them.")
    compare.add_argument("file", help="GGUF file")
    compare.add_argument("tensor", help="a 2-D weight, e.g. blk.0.ffn_up.weight")
    compare.add_argument("--csv", metavar="PATH|-", default=None,
                         help="write one row per output element to PATH (atomically) or '-' for stdout")
    compare.add_argument("--fail-on", choices=("degraded", "broken"), default=None,
                         help="exit 3 when the verdict is this bad or worse")
    compare.set_defaults(run="compare")

    scan = sub.add_parser("scan", parents=[common, report, matmul], help="every matmul weight, ranked worst first",
                          description="Compare every matmul weight of a model (NPU path vs ggml's CPU), rank them, and "
                          "say which layers cross the threshold first. Ctrl-C keeps the rows already finished.")
    scan.add_argument("file", help="GGUF file")
    scan.add_argument("--filter", default=None, metavar="REGEX", help="only tensors whose name matches REGEX")
    scan.add_argument("--jobs", type=int, default=None, metavar="N",
                      help="tensors compared in parallel (default: the number of CPUs)")
    scan.add_argument("--csv", metavar="PATH|-", default=None,
                      help="one row per scanned tensor, to PATH (atomically) or '-' for stdout")
    scan.add_argument("--top", type=int, default=20, metavar="K", help="rows of the ranked table to print (default 20)")
    scan.add_argument("--fail-on", choices=("degraded", "broken"), default=None,
                      help="exit 3 when any tensor's verdict is this bad or worse")
    scan.set_defaults(run="scan")

    diagnose = sub.add_parser("diagnose", parents=[common, report, npu],
                              help="which known layout bug explains an observed NPU output",
                              description="Re-run the emulator with each known layout bug injected and rank the "
                              "hypotheses by how well they reproduce an output captured from a real backend.")
    diagnose.add_argument("file", help="GGUF file")
    diagnose.add_argument("tensor", help="the weight the observed output came from")
    diagnose.add_argument("--observed", required=True, metavar="Y.npy", help="the backend's output, (M, N)")
    diagnose.add_argument("--input", required=True, metavar="X.npy", help="the activations it was given, float32 (M, K)")
    diagnose.set_defaults(run="diagnose")

    diff = sub.add_parser("diff", parents=[common, report], help="what changed between two models",
                          description="Tensors present in only one file, changes of type or shape, and per-tensor "
                          "metrics of the difference between dequantized values, worst first.")
    diff.add_argument("file", help="GGUF file A (the reference)")
    diff.add_argument("other", help="GGUF file B")
    diff.add_argument("--filter", default=None, metavar="REGEX", help="only tensors whose name matches REGEX")
    diff.add_argument("--csv", metavar="PATH|-", default=None,
                      help="one row per tensor, to PATH (atomically) or '-' for stdout")
    diff.add_argument("--top", type=int, default=20, metavar="K", help="rows of the ranked table to print (default 20)")
    diff.set_defaults(run="diff")

    doctor = sub.add_parser("doctor", parents=[common, report], help="can this machine run the NPU path? what to do if not",
                            description="Report the SoC, the NPU driver, librknnrt (LAYOUTSCOPE_RKNNRT or the library "
                            "search), which matmul types really run (a tiny matmul each, checked against the "
                            "emulator) and libggml. Exits 0 when the NPU is usable, 1 otherwise.")
    doctor.add_argument("--platform", default=None, help="probe as this platform (default: the detected SoC)")
    doctor.add_argument("--npu-core", type=int, choices=(0, 1, 2), default=0, help="NPU core to probe (default 0)")
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
        if sys.stdout is not None and sys.stdout.isatty() and sys.stdin is not None and sys.stdin.isatty():
            from .tui import run as run_tui

            return run_tui(target)
        print("layoutscope: stdout is not a terminal, so this is `layoutscope info` instead of the terminal UI",
              file=sys.stderr)
        argv = ["info", target] + (["--debug"] if debug else [])
    argv = normalize_json_spelling(argv, commands)
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    from . import console, interrupts

    restore_signals = interrupts.install()
    try:
        with console.guarded_stdout():
            try:
                from .commands import run

                code = run(args.run, args)
                console.flush()
                return code
            except KeyboardInterrupt as exc:  # Ctrl-C, and SIGTERM/SIGHUP through interrupts
                return interrupts.exit_code(exc)
            except BrokenPipeError:
                # `layoutscope dump ... | head` closed the pipe: not an error.
                console.silence()
                return EXIT_OK
            except Exception as exc:  # noqa: BLE001 - the error policy lives here
                if debug:
                    raise
                code, line = classify(exc)
                print(f"layoutscope: error: {line}", file=sys.stderr)
                return code
            finally:
                console.settle()
    finally:
        restore_signals()


def normalize_json_spelling(argv: list, commands: Sequence[str]) -> list:
    """``argv`` with the deprecated ``--json PATH`` / ``--json=PATH`` spelled ``--json-file PATH``.

    ``--json`` is a flag in every command; it is read as the old path form only when the next token
    is ``-`` (which becomes the flag) or ends in ``.json``. Each rewrite prints a one-line note on stderr.
    """
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        path = None
        if token.startswith("--json="):
            path = token[len("--json="):]
        elif token == "--json" and i + 1 < len(argv) and (argv[i + 1] == "-" or argv[i + 1].endswith(".json")) \
                and argv[i + 1] not in commands:
            path = argv[i + 1]
            i += 1
        if path is None:
            out.append(token)
        elif path == "-":
            print("layoutscope: note: `--json -` is deprecated: use `--json`", file=sys.stderr)
            out.append("--json")
        else:
            from .printable import clipped

            shown = clipped(path)
            print(f"layoutscope: note: `--json {shown}` is deprecated: use `--json-file {shown}`", file=sys.stderr)
            out += ["--json-file", path]
        i += 1
    return out


def _bundled_sample() -> str:
    from .samples import path

    return str(path("tiny-llama-q8_0.gguf"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
