"""The ``layoutscope`` argument parser: every subcommand, its options, and argparse's errors as one line.

The run settings (``--backend``, ``--platform``, ``--mm``, ...) are not
declared here: :func:`add_settings` makes each option from its declaration in
:class:`~layoutscope.measure.settings.RunSettings` (flag, metavar, default,
``--help`` text with the choices, and ``type=`` from its validator), and a
command reads them back with ``RunSettings.from_args(args)``. The options
that belong to one command (``--at``, ``--filter``, ``--top``, ...) are
declared below, each validated by a validator of
:mod:`layoutscope.measure.settings`. Building the parser imports nothing heavy.
"""

from __future__ import annotations

import argparse
import re
from typing import Callable, NoReturn, Optional

from layoutscope._version import __version__
from layoutscope.errors import EXIT_BAD_INPUT, UsageError, clipped, one_line
from layoutscope.measure import settings as options
from layoutscope.measure.settings import RunSettings

#: Options whose value may start with '-' (a negative index or a refused negative count):
#: ``--cols -1:`` is read as ``--cols=-1:``, not as an unknown option.
#: The subcommands, in the order of --help. ``layoutscope FILE`` is a file because FILE is none of them.
COMMANDS = ("info", "explain", "dump", "compare", "scan", "diagnose", "diff", "doctor", "eval", "plan", "capture")
NUMERIC_OPTIONS = frozenset({"--cols", "--at", "--top", "--jobs", "--ctx", "--chunks", "--kld-ok", "--seeds", "--kld-budget"} |
                            {s.flag for s in RunSettings.declared() if s.numeric})
#: argparse's "argument --x: message" prefix.
_ARGPARSE_PREFIX = re.compile(r"^argument (?P<names>[^:]+): (?P<rest>.*)$", re.DOTALL)

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


def _name_filter(text: str, label: str) -> str:
    """A --filter pattern, compiled once now so a bad or unbounded one is refused before any work."""
    from layoutscope.gguf.name_filter import compile_filter

    compile_filter(text, label)
    return text


def add_setting(parser: argparse.ArgumentParser, name: str, sweep: bool = False, **overrides) -> None:
    """The option of the run setting ``name``, made from its declaration.

    ``sweep`` takes a comma list where the setting allows one (scan's
    ``--weight-quant``); ``overrides`` replace argparse keywords for a command
    that uses the setting differently (doctor's ``--platform`` defaults to
    the detected SoC), keeping the validator.
    """
    s = RunSettings.declaration(name)
    parse = s.sweep if sweep and s.sweep is not None else s.parse
    keywords = dict(default=s.default, type=_checked(parse, s.flag), metavar=s.cli_metavar(),
                    help=s.help_text(sweep=sweep))
    parser.add_argument(s.flag, **{**keywords, **overrides})


def add_settings(parser: argparse.ArgumentParser, *groups: str, sweep: bool = False) -> None:
    """The options of every run setting in ``groups`` (``pipeline``, ``matmul``), in the record's order."""
    for s in RunSettings.declared(*groups):
        add_setting(parser, s.name, sweep=sweep)


def _settings_parent(*groups: str, sweep: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_settings(parent, *groups, sweep=sweep)
    return parent


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

    fail_on = _checked(options.choice, "--fail-on", choices=("degraded", "broken"))
    # compare and scan run matmuls: every run setting is theirs (scan's --weight-quant takes a sweep).
    matmul = _settings_parent("pipeline", "matmul")

    compare = sub.add_parser("compare", parents=[common, report, matmul], help="one matmul on the NPU path vs llama.cpp's CPU",
                             description="Run Y = X @ Wᵀ for one weight through the NPU path (the real NPU, or the exact "
                             "emulator) and through ggml's CPU matmul, and compare them.")
    compare.add_argument("file", help="GGUF file")
    compare.add_argument("tensor", help="a 2-D weight, e.g. blk.0.ffn_up.weight")
    compare.add_argument("--csv", metavar="PATH|-", default=None,
                         help="write one row per output element to PATH (atomically) or '-' for stdout")
    compare.add_argument("--fail-on", type=fail_on, default=None, metavar="{degraded,broken}",
                         help="exit 3 when the verdict is this bad or worse")
    compare.set_defaults(run="compare")

    scan = sub.add_parser("scan", parents=[common, report, _settings_parent("pipeline", "matmul", sweep=True),
                                           whole_model_parent()],
                          help="every matmul weight, ranked worst first",
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
    scan.add_argument("--end-to-end", action="store_true",
                      help="also run the whole model in llama.cpp with the first k layers on the NPU side (the eval "
                      "sweep): the per-layer table gets the measured KL divergence and top-1 agreement")
    scan.set_defaults(run="scan")

    diagnose = sub.add_parser("diagnose", parents=[common, report, _settings_parent("pipeline")],
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
    add_setting(doctor, "platform", default=None, help="probe as this platform (default: the detected SoC)")
    add_setting(doctor, "npu_core", help="NPU core to probe (default 0)")
    doctor.set_defaults(run="doctor")
    _add_eval(sub, common, report)
    _add_plan(sub, common, report)

    capture = sub.add_parser("capture", parents=[common, text_parent()],
                             help="real activations of every matmul weight, to an .npz",
                             description="Run the model in llama.cpp over a text and store, for each matmul weight, "
                             "R rows of its real input X spread over the text, llama.cpp's output Y for them and "
                             "their token positions, in an .npz that compare and scan read with --input FILE.npz.")
    capture.add_argument("file", help="GGUF model llama.cpp can run")
    capture.add_argument("--rows", type=_count("--rows", 1, example="64"), default=64, metavar="R",
                         help="rows kept per weight, spread evenly over the text (default 64)")
    capture.add_argument("--filter", default=None, metavar="REGEX", type=_checked(_name_filter, "--filter"),
                         help="only weights whose name matches REGEX")
    add_setting(capture, "threads", default=None, help="llama.cpp's threads (default: every CPU this process may use)")
    capture.add_argument("-o", "--output", required=True, metavar="FILE.npz",
                         help="where to write the activations (atomically; '-' is refused: an .npz is a file)")
    capture.set_defaults(run="capture")
    if tuple(sub.choices) != COMMANDS:  # main() tells a file name from a command by COMMANDS, before building this
        raise AssertionError(f"COMMANDS {COMMANDS} is not the parser's {tuple(sub.choices)}")
    return parser


def text_parent() -> argparse.ArgumentParser:
    """The text a run of the whole model reads and its chunk length (capture, eval, scan), declared once."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--text", metavar="PATH|-", default=None,
                        help="UTF-8 text the model reads ('-' for stdin; default: the bundled public-domain prose)")
    parent.add_argument("--ctx", type=_count("--ctx", 2, example="512"), default=None, metavar="N",
                        help="tokens per chunk (default 512, or the model's context when shorter)")
    return parent


def chunks_parent(default: Optional[int] = None) -> argparse.ArgumentParser:
    """How much of the text an evaluation scores: --chunks and --score (eval, scan's --end-to-end, plan)."""
    parent = argparse.ArgumentParser(add_help=False, parents=[text_parent()])
    parent.add_argument("--chunks", type=_count("--chunks", 1, example="4"), default=default, metavar="N",
                        help="run only the first N chunks of the text (default: "
                        f"{'all of it' if default is None else default})")
    parent.add_argument("--score", default="all", metavar="{all,second-half}",
                        type=_checked(options.choice, "--score", choices=("all", "second-half")),
                        help="positions scored: all (default), or each chunk's second half as llama-perplexity does")
    return parent


def whole_model_parent() -> argparse.ArgumentParser:
    """The options of an evaluation of the whole model in llama.cpp (eval, and scan's --end-to-end), declared once."""
    parent = argparse.ArgumentParser(add_help=False, parents=[chunks_parent()])
    parent.add_argument("--kld-ok", type=_checked(options.positive_float, "--kld-ok", example="0.01"), default=0.01,
                        metavar="X", help="a sweep's bound: the last k whose mean KL divergence stays within X "
                        "(default 0.01)")
    return parent


#: What eval's --backend may name: the NPU sides, and ``cpu`` (ggml's own result: the null test).
EVAL_BACKENDS = ("auto", "npu-sim", "npu", "cpu")
#: The run settings of a community pipeline that ``plan`` takes (it chooses the pipelines themselves).
_PLAN_SETTINGS_SKIPPED = ("pipeline", "mm", "weight_quant", "act_quant")
#: plan's default number of chunks: a plan runs dozens of evaluations of the whole model.
PLAN_CHUNKS = 2


def _pipeline_list(text: str, label: str) -> tuple:
    """A comma list of community pipeline names (any case), canonical and each once; 'classic' is refused."""
    from layoutscope.backend.community.pipelines import PIPELINES

    names = []
    for part in str(text).split(","):
        if part.strip().lower() == "classic":
            raise UsageError(f"{label}: 'classic' is layoutscope's own scheme, not a community pipeline; "
                             f"choose among {', '.join(PIPELINES)}")
        name = options.pipeline(part, label)
        if name not in names:
            names.append(name)
    return tuple(names)


def _add_plan(sub, common, report) -> None:
    """``plan``: the most the NPU can take, and how, within a KL divergence budget, verified by eval."""
    plan = sub.add_parser(
        "plan", parents=[common, report, chunks_parent(PLAN_CHUNKS)],
        help="which weights can go to the NPU, with which pipeline, within a KL divergence budget",
        description="Measure each layer's (or weight's) end-to-end sensitivity under each community pipeline "
        "(cheapest first: INT4 < INT8 < FP16, STANDARD before HADAMARD), grow a plan by increasing sensitivity "
        "while the measured KL divergence of the whole plan stays within --kld-budget, and verify it with one "
        "more eval. Prints the table per layer, the share of bytes and multiply-accumulates offloaded, the "
        "verified figures and an RKNPU_HYBRID line that reproduces the plan (its numbering order is "
        "UNCONFIRMED). An infeasible budget is a result (exit 0; --fail-on infeasible: 3).")
    plan.add_argument("file", help="GGUF model that llama.cpp can run")
    plan.add_argument("--kld-budget", type=_checked(options.positive_float, "--kld-budget", example="0.01"),
                      default=0.01, metavar="X",
                      help="the bound on the whole plan's mean KL divergence (default 0.01)")
    add_pipeline_list(plan, "comma-separated community pipelines to choose from (default: all six)")
    plan.add_argument("--objective", default="bytes", metavar="{bytes,macs}",
                      type=_checked(options.choice, "--objective", choices=("bytes", "macs")),
                      help="what to maximise on the NPU: weight bytes (default) or multiply-accumulates")
    plan.add_argument("--unit", default="layer", metavar="{layer,weight}",
                      type=_checked(options.choice, "--unit", choices=("layer", "weight")),
                      help="offload whole layers (default; fewer evaluations) or single weights (finer)")
    add_any_type(plan)
    add_setting(plan, "backend", type=_checked(options.choice, "--backend", choices=EVAL_BACKENDS[:3]),
                metavar="{" + ",".join(EVAL_BACKENDS[:3]) + "}",
                help="NPU side: auto (npu if available, else npu-sim), npu-sim (exact emulator), npu")
    for s in RunSettings.declared("pipeline"):
        if s.name not in _PLAN_SETTINGS_SKIPPED:
            add_setting(plan, s.name)
    add_setting(plan, "npu_core")
    add_setting(plan, "threads", default=None, help="threads for llama.cpp (default: every core)")
    plan.add_argument("-o", "--output", metavar="PLAN.json", default=None,
                      help="write the verified plan (atomically) for eval --plan to re-verify")
    plan.add_argument("--csv", metavar="PATH|-", default=None,
                      help="the sensitivity table: one row per unit and pipeline measured")
    plan.add_argument("--fail-on", default=None, metavar="infeasible",
                      type=_checked(options.choice, "--fail-on", choices=("infeasible",)),
                      help="exit 3 when no plan fits the budget (default: report it and exit 0)")
    plan.set_defaults(run="plan")


def add_pipeline_list(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--pipelines LIST``: community pipeline names, comma-separated (declared once: plan, eval's sweep)."""
    parser.add_argument("--pipelines", type=_checked(_pipeline_list, "--pipelines"), default=None, metavar="LIST",
                        help=help_text)


def add_any_type(parser: argparse.ArgumentParser) -> None:
    """``--any-type``: also offload the weight types the community backend keeps on the CPU (declared once)."""
    parser.add_argument("--any-type", action="store_true",
                        help="also offload the types the community backend keeps on the CPU (Q4_K, Q5_*, ...): "
                        "a what-if for your own backend")


def _add_eval(sub, common, report) -> None:
    """``eval``: the whole model through llama.cpp with the selected matmuls on the NPU side."""
    ev = sub.add_parser(
        "eval", parents=[common, report, _settings_parent("pipeline"), whole_model_parent()],
        help="the whole model with part of it on the NPU: KL divergence, top-1, perplexity, drift per layer",
        description="Run the model in llama.cpp twice over the same text: as it is (the reference), and with every "
        "selected matmul recomputed on the NPU side from its real input and written back into the graph. Reports "
        "the KL divergence of the output distribution, top-1 agreement, perplexity, the hidden state's drift after "
        "each layer, and the error each weight adds by itself. Ctrl-C keeps the chunks already finished.")
    ev.add_argument("file", help="GGUF model that llama.cpp can run")
    ev.add_argument("--npu", default="all", metavar="SELECT",
                    help="weights on the NPU side: all (default), none, layers:A-B, first:K, or a regex on tensor names")
    add_setting(ev, "backend", type=_checked(options.choice, "--backend", choices=EVAL_BACKENDS),
                metavar="{" + ",".join(EVAL_BACKENDS) + "}",
                help="NPU side: auto (npu if available, else npu-sim), npu-sim (exact emulator), npu (the real NPU), "
                "cpu (ggml's own result on the same input: the null test, KL divergence 0)")
    add_setting(ev, "npu_core")
    add_setting(ev, "threads", default=None, help="threads for llama.cpp and ggml's CPU matmul (default: every core)")
    ev.add_argument("--sweep", default=None,
                    type=_checked(options.choice, "--sweep", choices=("first-k", "pipelines")),
                    metavar="{first-k,pipelines}",
                    help="first-k: also run k = 0..L leading layers on the NPU side (table and plot against k); "
                    "pipelines: also run each community pipeline on every weight the backend would offload "
                    "(the table its README publishes for one model, for yours)")
    add_pipeline_list(ev, "with --sweep pipelines: the pipelines to run, comma-separated (default: all six)")
    add_any_type(ev)
    ev.add_argument("--seeds", type=_count("--seeds", 1, 64, example="5"), default=1, metavar="N",
                    help="HADAMARD pipelines: also run seeds --seed+1 .. --seed+N-1 and report the spread of the "
                    "end-to-end figures (how much a board run can vary; default 1)")
    ev.add_argument("--hybrid", default=None, metavar="PATTERN|default",
                    help="predict RKNPU_HYBRID: cycle the comma-separated pipeline names over the eligible weights "
                    "(F16, Q8_0, Q6_K, Q4_0) in the backend's numbering order (UNCONFIRMED); unknown names keep a "
                    "weight on the CPU; 'default' applies the backend's mapping by type")
    ev.add_argument("--hybrid-hadamard", action="store_true",
                    help="with --hybrid default: Q8_0 (and Q6_K's INT8 leg) use W8A8_HADAMARD "
                    "(RKNPU_DEFAULT_HADAMARD)")
    ev.add_argument("--plan", default=None, metavar="PLAN.json",
                    help="re-verify a plan written by layoutscope plan -o: its weights on their pipelines, under "
                    "its settings, on the chunks it was measured on (unless --ctx/--chunks say otherwise)")
    ev.add_argument("--top", type=_count("--top", 0), default=10, metavar="K",
                    help="worst single weights to list (default 10)")
    ev.add_argument("--csv", metavar="PATH|-", default=None,
                    help="one row per NPU-side weight (its single NMSE), to PATH (atomically) or '-' for stdout")
    ev.set_defaults(run="eval")
