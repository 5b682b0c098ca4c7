"""``layoutscope eval``: the model run by llama.cpp with the selected matmuls on the NPU side, against itself.

Progress goes to stderr (a rich bar on a terminal, a line per chunk
otherwise). Ctrl-C (or SIGTERM, SIGHUP) stops after the last whole chunk: the
report of the chunks done is printed and written, marked interrupted, and the
exit code is 128 + the signal (130 for Ctrl-C).
"""

from __future__ import annotations

import sys

from layoutscope.cli.outputs import Outputs
from layoutscope.errors import printable


def run(args) -> int:
    """Evaluate, print, write reports, and choose the exit code."""
    from layoutscope.cli import interrupts
    from layoutscope.gguf import Model
    from layoutscope.inference.engine import Engine
    from layoutscope.inference.evaluate import Candidate, NpuMatmuls, evaluate, matmul_weights, sweep_first_k
    from layoutscope.inference.selection import select
    from layoutscope.inference.text import chunks, read_text
    from layoutscope.measure.settings import RunSettings
    from layoutscope.report.eval_report import EvalContext, as_dict, as_text, write_weights_csv

    settings = RunSettings.from_args(args)
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths, inputs=[args.text] if args.text not in (None, "-") else [])
        text, text_label = read_text(args.text)
        with Engine(args.file, [t.name for t in model.tensors], ctx=args.ctx, threads=args.threads) as engine:
            facts = engine.facts
            tokens = engine.tokenize(text)
            todo = chunks(tokens, facts.ctx, engine.bos if facts.add_bos else None, limit=args.chunks,
                          scoring=args.score)
            weights = matmul_weights(engine, todo[0].tokens)
            selected = select(args.npu, weights, facts.n_layer)
            backend, notices = _npu_side(args, settings, facts.threads)
            candidates = [Candidate(args.npu, selected)]
            if args.sweep == "first-k":
                candidates += sweep_first_k(weights, facts.n_layer)
            with _progress(len(todo) * (1 + len(candidates))) as step:
                result = evaluate(engine, todo, candidates, NpuMatmuls(backend, model), step)
    context = EvalContext(model=args.file, text=text_label, scoring=args.score, engine=facts.to_dict(),
                          backend=backend.name, options=_options(backend, settings), weights=weights,
                          kld_ok=args.kld_ok, notices=notices)
    outputs.export("--csv", lambda stream: write_weights_csv(stream, result))
    data = as_dict(result, context)
    outputs.export_json(data)
    outputs.print_report(lambda: as_text(result, context, written=outputs.notices, top=args.top), lambda: data)
    outputs.finish()
    if not result.complete:
        print(f"layoutscope: eval interrupted after {result.chunks_done} of {result.chunks_total} chunks; "
              "the report holds the chunks finished", file=sys.stderr)
        return interrupts.exit_code()
    return 0


def _npu_side(args, settings, threads: int):
    """The backend that computes the NPU side, and the notices saying why it was chosen."""
    from layoutscope.backend import get_backend, npu_backend

    if args.backend == "cpu":
        # The null test: ggml's own CPU result on the same input, written back through the same path.
        return get_backend("cpu", threads=threads), ["--backend cpu: the NPU side is ggml's CPU matmul on the same "
                                                     "input (the null test: the KL divergence must be 0)"]
    backend, notice = npu_backend(args.backend, core=settings.npu_core, **settings.npu_options())
    return backend, [notice] if notice else []


def _options(backend, settings) -> dict:
    if backend.name == "cpu":
        return {}
    return {**settings.npu_options(), **({"npu_core": settings.npu_core} if backend.name == "npu" else {})}


class _progress:
    """A context manager yielding the per-decode callback: a rich bar on a terminal, a line per chunk otherwise."""

    def __init__(self, total: int):
        self.total = total

    def __enter__(self):
        done = [0]
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.markup import escape
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.description}"), console=Console(stderr=True), transient=True)
            self.bar.start()
            task = self.bar.add_task("", total=self.total)

            def on_step(label: str) -> None:
                done[0] += 1
                self.bar.update(task, completed=done[0], description=escape(printable(label)))

            return on_step
        self.bar = None

        def on_line(label: str) -> None:
            done[0] += 1
            print(f"[{done[0]}/{self.total}] {printable(label)}", file=sys.stderr, flush=True)

        return on_line

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

