"""``layoutscope eval``: the model run by llama.cpp with the selected matmuls on the NPU side, against itself.

Progress goes to stderr (a rich bar on a terminal, a line per chunk
otherwise). Ctrl-C (or SIGTERM, SIGHUP) stops after the last whole chunk: the
report of the chunks done is printed and written, marked interrupted, and the
exit code is 128 + the signal (130 for Ctrl-C).
"""

from __future__ import annotations

import sys

from layoutscope.cli.outputs import Outputs
from layoutscope.cli.progress import Progress


def run(args) -> int:
    """Evaluate, print, write reports, and choose the exit code."""
    from layoutscope.cli import interrupts
    from layoutscope.gguf import Model
    from layoutscope.inference.evaluate import EvalRequest, eval_model
    from layoutscope.measure.settings import RunSettings
    from layoutscope.report.eval_report import EvalContext, as_dict, as_text, write_weights_csv

    settings = RunSettings.from_args(args)
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths, inputs=[args.text] if args.text not in (None, "-") else [])
        hybrid = _Hybrid(args, settings, model) if args.hybrid is not None else None
        backend, notices = npu_side(args.backend, settings)
        seeded = _other_seeds(args, settings)
        request = EvalRequest(text=args.text, ctx=args.ctx, chunks=args.chunks, scoring=args.score, npu=args.npu,
                              sweep=args.sweep, threads=args.threads)
        with Progress("evaluating") as update:
            outcome = eval_model(model, request, backend, decode_steps(update), seeded=seeded, hybrid=hybrid)
        if hybrid is not None:
            notices = hybrid.notices
    result, facts, weights = outcome.run, outcome.facts, outcome.weights
    backend_name, options = backend.name, _options(backend, settings)
    if hybrid is not None:
        backend_name, options = hybrid.backend_name or backend_name, hybrid.options()
    context = EvalContext(model=args.file, text=outcome.text_label, scoring=args.score, engine=facts.to_dict(),
                          backend=backend_name, options=options, weights=weights,
                          kld_ok=args.kld_ok, notices=notices, seed=settings.seed,
                          hybrid=hybrid.plan if hybrid is not None else None)
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


class _Hybrid:
    """``--hybrid``: checks the request, then makes the main candidate once llama.cpp's matmul weights are known."""

    def __init__(self, args, settings, model):
        from layoutscope.errors import UsageError
        from layoutscope.inference.hybrid import malformed

        why = malformed(args.hybrid)
        if why is not None:
            raise UsageError(why)
        for clash, wrong in (("--npu", args.npu != "all"), ("--pipeline", settings.pipeline != "classic"),
                             ("--sweep", args.sweep is not None), ("--seeds", args.seeds > 1)):
            if wrong:
                raise UsageError(f"--hybrid chooses the pipeline of every weight itself: drop {clash}")
        self.args, self.settings, self.model = args, settings, model
        self.plan = None
        self.notices: list = []
        self.backend_name = None

    def __call__(self, weights):
        from layoutscope.inference.evaluate import Candidate, NpuMatmuls
        from layoutscope.inference.hybrid import UNCONFIRMED, HybridSide, assign

        self.plan = assign(self.model, self.args.hybrid, self.args.hybrid_hadamard, matmul=weights)
        sides, notices = {}, []
        for pipeline in dict.fromkeys(self.plan.offloaded.values()):
            backend, told = npu_side(self.args.backend, self.settings.with_changes(pipeline=pipeline))
            sides[pipeline] = NpuMatmuls(backend, self.model)
            self.backend_name = backend.name
            notices += [n for n in told if n not in notices]
        self.notices = notices + [f"UNCONFIRMED: {UNCONFIRMED}"]
        return Candidate(f"hybrid:{self.args.hybrid}", tuple(self.plan.offloaded), side=HybridSide(self.plan, sides))

    def options(self) -> dict:
        """What the report shows as the NPU side's options: the pattern, the pipelines it used, calibration, seed."""
        used = sorted(set(self.plan.offloaded.values())) if self.plan else []
        return {"hybrid": self.args.hybrid, "pipelines": ",".join(used) or "none",
                "hybrid_hadamard": self.args.hybrid_hadamard, "w8_calib": self.settings.w8_calib,
                "seed": self.settings.seed}


def decode_steps(update):
    """The ``(step, done, total)`` callback of a whole-model run, shown through a :class:`Progress` update."""
    return lambda step, done, total: update(done, total, step, f"[{done}/{total}] {step}")


def _other_seeds(args, settings) -> list:
    """``(seed, backend)`` for --seeds beyond the first; UsageError when the pipeline draws no signs."""
    from layoutscope.errors import UsageError

    if args.seeds <= 1:
        return []
    if "HADAMARD" not in str(settings.pipeline):
        raise UsageError(f"--seeds {args.seeds}: only the HADAMARD pipelines draw random signs; "
                         f"add --pipeline W8A8_HADAMARD (or another *_HADAMARD), or drop --seeds")
    return [(seed, npu_side(args.backend, settings.with_changes(seed=seed))[0])
            for seed in range(settings.seed + 1, settings.seed + args.seeds)]


def npu_side(requested: str, settings):
    """The backend that computes the NPU side (``cpu`` too: the null test), and notices saying why it was chosen."""
    from layoutscope.inference.npu_sides import npu_side_for

    return npu_side_for(requested, settings)


def _options(backend, settings) -> dict:
    if backend.name == "cpu":
        return {}
    options = settings.npu_options()
    if backend.name == "rk-community":
        # The pipeline, its seed and the options that differ from the backend's defaults (ORG's).
        defaults = type(settings)().npu_options()
        shown = {"platform", "pipeline", "seed"}
        return {k: v for k, v in options.items() if k in shown or (k not in (
            "mm", "weight_quant", "act_quant") and v != defaults[k])}
    classic = ("platform", "mm", "weight_quant", "act_quant")
    return {**{k: options[k] for k in classic}, **({"npu_core": settings.npu_core} if backend.name == "npu" else {})}
