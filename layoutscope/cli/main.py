"""The ``layoutscope`` command line: parser, dispatch and the error policy.

Subcommands import their heavy modules (numpy, the registry) only when they
run, so ``--help`` and ``--version`` start fast. Every failure a user can
cause prints one line on stderr: exit 2 for bad input, 1 for an unavailable
resource; ``--debug`` shows the traceback instead. Each option's value is
validated once, where it is declared, by a validator of
:mod:`layoutscope.measure.settings`; argparse's own complaints (a missing value, an
unknown option) are one line too, in the same form.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, NoReturn, Optional, Sequence

from layoutscope.measure import settings as options
from layoutscope._version import __version__
from layoutscope.errors import EXIT_BAD_INPUT, EXIT_OK, UsageError, classify, one_line
from layoutscope.errors import clipped

#: Options whose value may start with '-' (a negative index or a refused negative count):
#: ``--cols -1:`` is read as ``--cols=-1:``, not as an unknown option.
NUMERIC_OPTIONS = frozenset({"--rows", "--cols", "--at", "--top", "--threads", "--jobs", "--npu-core"})
_NUMERIC_VALUE = re.compile(r"-[0-9:,. ]")
#: argparse's "argument --x: message" prefix.
_ARGPARSE_PREFIX = re.compile(r"^argument (?P<names>[^:]+): (?P<rest>.*)$", re.DOTALL)


class LineParser(argparse.ArgumentParser):
    """An ArgumentParser whose every error is one stderr line and exit 2, in the tool's own words.

    ``layoutscope: error: <message> (see layoutscope COMMAND --help)``, with no
    usage block; a validator's message is kept verbatim (it names the option
    once). ``--help`` is unchanged.
    """

    def error(self, message: str) -> NoReturn:
        """Print the one line and exit 2."""
        self.fail(_reworded(message), self.prog)

    def fail(self, message: str, prog: str) -> NoReturn:
        """Exit 2 with ``message`` and where to read about it (``prog --help``)."""
        self.exit(EXIT_BAD_INPUT, f"layoutscope: error: {one_line(message)} (see {prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """Parse, refusing leftover arguments with the subcommand's name (not the top-level one)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "run", None)
            prog = f"{self.prog} {command}" if command else self.prog
            shown = " ".join(clipped(e) for e in extras[:5]) + (" …" if len(extras) > 5 else "")
            self.fail(f"unrecognized arguments: {shown}", prog)
        return parsed


def _reworded(message: str) -> str:
    """argparse's message in the tool's form: ``--x 'value': why``, the option named once."""
    match = _ARGPARSE_PREFIX.match(message)
    if match is None:
        return message
    names, rest = match.group("names"), match.group("rest")
    if any(rest.startswith(name + " ") for name in names.split("/")):
        return rest  # our validator's message, which already names the option
    if names == "COMMAND":
        choice = re.match(r"invalid choice: (?P<value>'.*?') \(choose from (?P<choices>.*)\)$", rest, re.DOTALL)
        if choice:
            listed = choice.group("choices").replace("'", "")
            return f"unknown command {clipped(choice.group('value'))}: choose from {listed}"
    if rest == "expected one argument":
        rest = "needs a value"
    return f"{names}: {rest}"


def _checked(validator: Callable, label: str, **bounds) -> Callable[[str], object]:
    """``validator(text, label, **bounds)`` as an argparse ``type=``, keeping its message word for word."""
    def convert(text: str):
        try:
            return validator(text, label, **bounds)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = label.lstrip("-")
    return convert


def _count(label: str, minimum: int, maximum: Optional[int] = None, example: str = "") -> Callable[[str], int]:
    """A whole-number option in [minimum, maximum]."""
    return _checked(options.whole_number, label, minimum=minimum, maximum=maximum, example=example)


def _one_of(label: str, names: tuple) -> Callable[[str], str]:
    """An option that takes one of ``names``."""
    return _checked(options.choice, label, choices=names)


def _schemes(text: str, label: str) -> str:
    """A comma list of weight schemes, validated, in canonical spelling (scan's sweep)."""
    return ",".join(options.weight_schemes(text, label))


def _name_filter(text: str, label: str) -> str:
    """A --filter pattern, compiled once now so a bad or unbounded one is refused before any work."""
    from layoutscope.gguf.name_filter import compile_filter

    compile_filter(text, label)
    return text


def _values_attached(argv: list) -> list:
    """``--cols -1:`` → ``--cols=-1:`` for :data:`NUMERIC_OPTIONS`, so argparse reads the value as a value."""
    out: list = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return out + argv[i:]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if arg in NUMERIC_OPTIONS and nxt is not None and _NUMERIC_VALUE.match(nxt):
            out.append(f"{arg}={nxt}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _environment_problem() -> Optional[int]:
    """Exit code 2, after one stderr line, when an environment variable layoutscope reads is bad; else None.

    Checked before any work (``--help`` does not need them).
    """
    try:
        options.threads_from_env()
        options.memory_limit_from_env()
    except UsageError as exc:
        print(f"layoutscope: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return None


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

    parser = LineParser(
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
    explain.add_argument("--at", default="0,0", metavar="ROW,COL", type=_checked(options.position, "--at"),
                         help="element to explain: row (over ne1·ne2·ne3) and col (along ne0); default 0,0")
    explain.set_defaults(run="explain")

    dump = sub.add_parser("dump", parents=[common], help="dequantized values of a window of a tensor",
                          description="Print dequantized float32 values of a window of rows and columns.")
    dump.add_argument("file", help="GGUF file")
    dump.add_argument("tensor", help="tensor name")
    dump.add_argument("--rows", default=None, metavar="A:B", type=_checked(options.index_range, "--rows"), help="rows to show (default 0:8, or all with --csv; ':' for all)")
    dump.add_argument("--cols", default=None, metavar="A:B", type=_checked(options.index_range, "--cols"), help="columns to show (default 0:8, or all with --csv; ':' for all)")
    dump.add_argument("--csv", metavar="PATH|-", default=None,
                      help="write row,col,value CSV to PATH (atomically) or '-' for stdout, instead of the grid")
    dump.set_defaults(run="dump")

    def npu_options(sweep: bool = False) -> argparse.ArgumentParser:
        # A parent per subcommand: scan's --weight-quant takes a comma list, the others one scheme.
        npu = argparse.ArgumentParser(add_help=False)
        npu.add_argument("--platform", default="rk3588", type=_checked(options.platform, "--platform"),
                         help="rk3588 (default), rk3576, rk3566, rk3568, rk3562")
        npu.add_argument("--mm", default="int8", type=_checked(options.matmul_type, "--mm"),
                         help="int8 (default), int8-fp32, fp16, fp16-fp16, int8-int8, int4")
        npu.add_argument("--weight-quant", default="per-channel", metavar="S",
                         type=_checked(_schemes if sweep else options.weight_scheme, "--weight-quant"),
                         help="per-channel (default), per-tensor, per-group:G, fixed")
        npu.add_argument("--act-quant", default="per-tensor", metavar="S", type=_checked(options.act_scheme, "--act-quant"),
                         help="per-tensor (default), per-token, fixed:R")
        return npu

    def matmul_options(sweep: bool = False) -> argparse.ArgumentParser:
        matmul = argparse.ArgumentParser(add_help=False, parents=[npu_options(sweep)])
        matmul.add_argument("--backend", type=_one_of("--backend", ("npu", "npu-sim")), default=None,
                            metavar="{npu,npu-sim}", help="NPU side (default: npu when available, else npu-sim)")
        matmul.add_argument("--reference", type=_one_of("--reference", ("cpu", "cpu-numpy")), default="cpu",
                            metavar="{cpu,cpu-numpy}", help="CPU side (default: cpu, ggml's own kernel)")
        matmul.add_argument("--input", default="random", metavar="SRC", type=_checked(options.input_spec, "--input"),
                            help="random[:SEED] (default), tokens:ID,ID,... or PATH.npy (float32 M×K)")
        matmul.add_argument("--rows", type=_count("--rows", 1, example="--rows 8"), default=8, metavar="M",
                            help="rows of random input (default 8)")
        matmul.add_argument("--npu-core", type=_count("--npu-core", 0, 2), default=0, metavar="{0,1,2}",
                            help="NPU core for --backend npu (default 0; the matmul API runs on one core)")
        matmul.add_argument("--threads", type=_count("--threads", 1, options.MAX_THREADS), default=1, metavar="THREADS",
                            help="threads for ggml's CPU matmul (default 1)")
        return matmul

    fail_on = _one_of("--fail-on", ("degraded", "broken"))

    compare = sub.add_parser("compare", parents=[common, report, matmul_options()], help="one matmul on the NPU path vs llama.cpp's CPU",
                             description="Run Y = X @ Wᵀ for one weight through the NPU path (the real NPU, or the exact "
                             "emulator) and through ggml's CPU matmul, and compare them.")
    compare.add_argument("file", help="GGUF file")
    compare.add_argument("tensor", help="a 2-D weight, e.g. blk.0.ffn_up.weight")
    compare.add_argument("--csv", metavar="PATH|-", default=None,
                         help="write one row per output element to PATH (atomically) or '-' for stdout")
    compare.add_argument("--fail-on", type=fail_on, default=None, metavar="{degraded,broken}",
                         help="exit 3 when the verdict is this bad or worse")
    compare.set_defaults(run="compare")

    scan = sub.add_parser("scan", parents=[common, report, matmul_options(sweep=True)], help="every matmul weight, ranked worst first",
                          description="Compare every matmul weight of a model (NPU path vs ggml's CPU), rank them, and "
                          "say which layers cross the threshold first. Ctrl-C keeps the rows already finished.")
    scan.add_argument("file", help="GGUF file")
    scan.add_argument("--filter", default=None, metavar="REGEX", type=_checked(_name_filter, "--filter"), help="only tensors whose name matches REGEX")
    scan.add_argument("--jobs", type=_count("--jobs", 1, options.MAX_THREADS), default=None, metavar="N",
                      help="tensors compared in parallel (default: the number of CPUs)")
    scan.add_argument("--csv", metavar="PATH|-", default=None,
                      help="one row per scanned tensor, to PATH (atomically) or '-' for stdout")
    scan.add_argument("--top", type=_count("--top", 0), default=20, metavar="K",
                      help="rows of the ranked table to print (default 20)")
    scan.add_argument("--fail-on", type=fail_on, default=None, metavar="{degraded,broken}",
                      help="exit 3 when any tensor's verdict is this bad or worse")
    scan.set_defaults(run="scan")

    diagnose = sub.add_parser("diagnose", parents=[common, report, npu_options()],
                              help="which known layout bug explains an observed NPU output",
                              description="Re-run the emulator with each known layout bug injected and rank the "
                              "hypotheses by how well they reproduce an output captured from a real backend.")
    diagnose.add_argument("file", help="GGUF file")
    diagnose.add_argument("tensor", help="the weight the observed output came from")
    diagnose.add_argument("--observed", required=True, metavar="Y.npy", type=_checked(options.regular_file, "--observed"),
                          help="the backend's output, (M, N)")
    diagnose.add_argument("--input", required=True, metavar="X.npy", type=_checked(options.regular_file, "--input"),
                          help="the activations it was given, float32 (M, K)")
    diagnose.set_defaults(run="diagnose")

    diff = sub.add_parser("diff", parents=[common, report], help="what changed between two models",
                          description="Tensors present in only one file, changes of type or shape, and per-tensor "
                          "metrics of the difference between dequantized values, worst first.")
    diff.add_argument("file", help="GGUF file A (the reference)")
    diff.add_argument("other", help="GGUF file B")
    diff.add_argument("--filter", default=None, metavar="REGEX", type=_checked(_name_filter, "--filter"), help="only tensors whose name matches REGEX")
    diff.add_argument("--csv", metavar="PATH|-", default=None,
                      help="one row per tensor, to PATH (atomically) or '-' for stdout")
    diff.add_argument("--top", type=_count("--top", 0), default=20, metavar="K",
                      help="rows of the ranked table to print (default 20)")
    diff.set_defaults(run="diff")

    doctor = sub.add_parser("doctor", parents=[common, report], help="can this machine run the NPU path? what to do if not",
                            description="Report the SoC, the NPU driver, librknnrt (LAYOUTSCOPE_RKNNRT or the library "
                            "search), which matmul types really run (a tiny matmul each, checked against the "
                            "emulator) and libggml. Exits 0 when the NPU is usable, 1 otherwise.")
    doctor.add_argument("--platform", default=None, type=_checked(options.platform, "--platform"), help="probe as this platform (default: the detected SoC)")
    doctor.add_argument("--npu-core", type=_count("--npu-core", 0, 2), default=0, metavar="{0,1,2}", help="NPU core to probe (default 0)")
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
    argv = _values_attached(list(sys.argv[1:] if argv is None else argv))
    commands = parser.get_default("commands")
    rest = [a for a in argv if a != "--debug"]
    debug = len(rest) < len(argv)
    if not rest or (len(rest) == 1 and rest[0] not in commands and not rest[0].startswith("-")):
        if _environment_problem():
            return EXIT_BAD_INPUT
        target = rest[0] if rest else _bundled_sample()
        if sys.stdout is not None and sys.stdout.isatty() and sys.stdin is not None and sys.stdin.isatty():
            from layoutscope.tui import run as run_tui

            return run_tui(target)
        print("layoutscope: stdout is not a terminal, so this is `layoutscope info` instead of the terminal UI",
              file=sys.stderr)
        argv = ["info", target] + (["--debug"] if debug else [])
    argv = normalize_json_spelling(argv, commands)
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if _environment_problem():
        return EXIT_BAD_INPUT
    from layoutscope.cli import console, interrupts

    restore_signals = interrupts.install()
    try:
        with console.guarded_stdout():
            try:
                from layoutscope.cli.commands import run

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
            from layoutscope.errors import clipped

            shown = clipped(path)
            print(f"layoutscope: note: `--json {shown}` is deprecated: use `--json-file {shown}`", file=sys.stderr)
            out += ["--json-file", path]
        i += 1
    return out


def _bundled_sample() -> str:
    from layoutscope.samples import path

    return str(path("tiny-llama-q8_0.gguf"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
