"""The ``layoutscope`` command line: argv normalisation, environment checks, dispatch and the error policy.

The parser itself is :mod:`layoutscope.cli.parser`. Subcommands import their
heavy modules (numpy, the registry) only when they run, so ``--help`` and
``--version`` start fast. Every failure a user can cause prints one line on
stderr: exit 2 for bad input, 1 for an unavailable resource; ``--debug``
shows the traceback instead. Each option's value is validated once, where it
is declared; argparse's own complaints (a missing value, an unknown option)
are one line too, in the same form.
"""

from __future__ import annotations

import re
import sys
from typing import Optional, Sequence

from layoutscope.cli.parser import COMMANDS, NUMERIC_OPTIONS, build_parser
from layoutscope.errors import EXIT_BAD_INPUT, EXIT_OK, UsageError, classify, one_line
from layoutscope.measure import settings as options

#: A value that starts like a number ("-1:", "-3,4", "-1e-3"), not like an option.
_NUMERIC_VALUE = re.compile(r"-[0-9:,. ]")


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code.

    ``layoutscope FILE`` (a first argument that is no command or option) and a
    bare ``layoutscope`` (the bundled sample) open the terminal UI. When stdout
    is not a terminal they print ``info`` instead, with a note on stderr.
    """
    argv = _values_attached(list(sys.argv[1:] if argv is None else argv))
    rest = [a for a in argv if a != "--debug"]
    debug = len(rest) < len(argv)
    # The terminal UI starts without building the parser: every millisecond before its first frame counts.
    if not rest or (len(rest) == 1 and rest[0] not in COMMANDS and not rest[0].startswith("-")):
        if _environment_problem():
            return EXIT_BAD_INPUT
        target = rest[0] if rest else _bundled_sample()
        if sys.stdout is not None and sys.stdout.isatty() and sys.stdin is not None and sys.stdin.isatty():
            from layoutscope.tui import run as run_tui

            return run_tui(target)
        print("layoutscope: stdout is not a terminal, so this is `layoutscope info` instead of the terminal UI",
              file=sys.stderr)
        argv = ["info", target] + (["--debug"] if debug else [])
    argv = normalize_json_spelling(argv, COMMANDS)
    args = build_parser().parse_args(argv)
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
