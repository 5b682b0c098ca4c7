"""``layoutscope capture``: real activations of every matmul weight, written to an ``.npz``.

The model runs in llama.cpp over the text (:func:`layoutscope.inference.capture.capture`);
progress goes to stderr (a rich bar on a terminal, one line per chunk
otherwise). The output path is checked before any work and written
atomically after it (:mod:`layoutscope.report.destinations`), so Ctrl-C
(exit 130) leaves no partial file. ``-o -`` is refused: an .npz is a zip
archive, meant for a file.
"""

from __future__ import annotations

from layoutscope.cli.progress import Progress
from layoutscope.errors import printable


def run(args) -> int:
    """Capture, write the .npz, print what was written."""
    from layoutscope.gguf import Model
    from layoutscope.inference.capture import capture
    from layoutscope.report.destinations import prepare

    with Model(args.file) as model:
        shards = list(model.paths)
    inputs = [args.text] if args.text not in (None, "-") else []
    destination = prepare({"--output": args.output}, models=shards, inputs=inputs, allow_stdout=False)["--output"]
    with Progress("decoding") as update:
        acts = capture(args.file, text=args.text, ctx=args.ctx, rows=args.rows, filter=args.filter,
                       threads=args.threads,
                       on_chunk=lambda p: update(p.done, p.total, "", f"[{p.done}/{p.total}] chunks decoded"
                                                 if p.done else ""))
    with destination.open(binary=True) as stream:
        acts.write(stream)
    rows = len(next(iter(acts.weights.values())).x)
    print(printable(f"captured {rows} rows of each of {len(acts.weights)} matmul weights from {acts.text} "
                    f"({acts.tokens} tokens, {acts.chunks} chunk(s) of at most {acts.ctx}) to {destination.path}"))
    return 0
