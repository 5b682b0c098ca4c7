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
    _refuse_strays(args)
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths, inputs=[args.text] if args.text not in (None, "-") else [])
        if args.plan is not None:
            hybrid = _Planned(args, settings, model)
            settings = hybrid.settings
        else:
            hybrid = _Hybrid(args, settings, model) if args.hybrid is not None else None
        backend, notices = npu_side(args.backend, settings)
        seeded = _other_seeds(args, settings)
        ctx, chunks = (args.ctx, args.chunks) if args.plan is None else hybrid.chunking()
        request = EvalRequest(text=args.text, ctx=ctx, chunks=chunks, scoring=args.score, npu=args.npu,
                              sweep=args.sweep, threads=args.threads)
        swept = _PipelinesSweep(args, settings, model) if args.sweep == "pipelines" else None
        with Progress("evaluating") as update:
            outcome = eval_model(model, request, backend, decode_steps(update), seeded=seeded, hybrid=hybrid,
                                 more=swept)
        if hybrid is not None:
            notices = hybrid.notices + hybrid.verdict(outcome.run.results[0].quality)
        if swept is not None:
            notices = notices + [n for n in swept.notices if n not in notices]
    result, facts, weights = outcome.run, outcome.facts, outcome.weights
    backend_name, options = backend.name, _options(backend, settings)
    if hybrid is not None:
        backend_name, options = hybrid.backend_name or backend_name, hybrid.options()
    context = EvalContext(model=args.file, text=outcome.text_label, scoring=args.score, engine=facts.to_dict(),
                          backend=backend_name, options=options, weights=weights,
                          kld_ok=args.kld_ok, notices=notices, seed=settings.seed,
                          hybrid=hybrid.plan if hybrid is not None and args.plan is None else None,
                          pipelines=swept.sweep if swept is not None else None,
                          plan_check=hybrid.check(result.results[0].quality) if args.plan is not None else None)
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


def _refuse_strays(args) -> None:
    """Options that only mean something with another one: refused in one line rather than ignored."""
    from layoutscope.errors import UsageError

    if args.sweep != "pipelines":
        for given, option in ((args.pipelines is not None, "--pipelines"), (args.any_type, "--any-type")):
            if given:
                raise UsageError(f"{option} chooses what --sweep pipelines runs: add --sweep pipelines, "
                                 f"or drop {option}")
    if args.hybrid_hadamard and args.hybrid != "default":
        raise UsageError("--hybrid-hadamard changes the backend's default mapping by type: add --hybrid default "
                         "(a pattern names each pipeline itself: write W8A8_HADAMARD in it), or drop "
                         "--hybrid-hadamard")


class _PipelinesSweep:
    """``--sweep pipelines``: one more candidate per community pipeline, made once llama.cpp's weights are known."""

    def __init__(self, args, settings, model):
        from layoutscope.backend.community.pipelines import PIPELINE_NAMES

        self.args, self.settings, self.model = args, settings, model
        self.pipelines = args.pipelines or PIPELINE_NAMES
        self.sweep = None
        self.notices: list = []

    def __call__(self, selected: list) -> list:
        from layoutscope.planning.pipeline_sweep import pipeline_sweep

        sides, _, self.notices = pipeline_sides(self.args.backend, self.settings, self.model, self.pipelines)
        self.sweep = pipeline_sweep(self.model, selected, sides.__getitem__, self.pipelines, self.args.any_type)
        return list(self.sweep.candidates)


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
        from layoutscope.inference.evaluate import Candidate
        from layoutscope.inference.hybrid import UNCONFIRMED, HybridSide, assign

        self.plan = assign(self.model, self.args.hybrid, self.args.hybrid_hadamard, matmul=weights)
        sides, self.backend_name, notices = pipeline_sides(self.args.backend, self.settings, self.model,
                                                           self.plan.offloaded.values())
        self.notices = notices + [f"UNCONFIRMED: {UNCONFIRMED}"]
        return Candidate(f"hybrid:{self.args.hybrid}", tuple(self.plan.offloaded), side=HybridSide(self.plan, sides))

    def verdict(self, quality) -> list:
        """Nothing to add: a pattern has no recorded figures to check."""
        return []

    def options(self) -> dict:
        """What the report shows as the NPU side's options: the pattern, the pipelines it used, calibration, seed."""
        used = sorted(set(self.plan.offloaded.values())) if self.plan else []
        return {"hybrid": self.args.hybrid, "pipelines": ",".join(used) or "none",
                "hybrid_hadamard": self.args.hybrid_hadamard, "w8_calib": self.settings.w8_calib,
                "seed": self.settings.seed}


class _Planned:
    """``--plan FILE``: the plan's weights, each on its pipeline's side, under the plan's settings; then its check."""

    def __init__(self, args, settings, model):
        from layoutscope.errors import UsageError
        from layoutscope.planning.plan_file import read_plan, settings_from_plan

        for clash, wrong in (("--npu", args.npu != "all"), ("--pipeline", settings.pipeline != "classic"),
                             ("--hybrid", args.hybrid is not None), ("--sweep", args.sweep is not None),
                             ("--seeds", args.seeds > 1), ("--backend cpu", args.backend == "cpu")):
            if wrong:
                raise UsageError(f"--plan gives every weight its pipeline itself: drop {clash}")
        self.args, self.model = args, model
        self.file = read_plan(args.plan, model)
        self.settings = settings_from_plan(self.file, settings, args.plan)
        self.plan = None
        self.notices: list = []
        self.backend_name = None

    def chunking(self) -> tuple:
        """``(ctx, chunks)``: the command line's, else those the plan was measured on (to repeat its figures)."""
        measured = self.file.measured
        ctx = self.args.ctx if self.args.ctx is not None else measured.get("ctx")
        chunks = self.args.chunks if self.args.chunks is not None else measured.get("chunks")
        return (ctx if isinstance(ctx, int) and ctx >= 2 else None,
                chunks if isinstance(chunks, int) and chunks >= 1 else None)

    def __call__(self, weights):
        from layoutscope.errors import UsageError
        from layoutscope.inference.evaluate import Candidate, PerWeightSide

        missing = [name for name in self.file.assignment if name not in weights]
        if missing:
            raise UsageError(f"--plan {self.args.plan}: {missing[0]} is not one of the weights llama.cpp runs as "
                             "a matmul in this model; the plan is corrupt")
        sides, self.backend_name, self.notices = pipeline_sides(self.args.backend, self.settings, self.model,
                                                                self.file.assignment.values())
        return Candidate(f"plan:{self.args.plan}", tuple(self.file.assignment),
                         side=PerWeightSide(self.file.assignment, sides))

    def check(self, quality) -> dict:
        """The re-verification as data: the file, its budget, the figure it recorded, this run's, the verdict."""
        kld = self.file.measured.get("kld")
        recorded = kld.get("mean") if isinstance(kld, dict) else None
        return {"file": self.args.plan, "kld_budget": self.file.budget,
                "recorded_kld_mean": recorded if isinstance(recorded, (int, float)) else None,
                "kld_mean": quality.kld_mean, "within_budget": bool(quality.kld_mean <= self.file.budget)}

    def verdict(self, quality) -> list:
        """The re-verification: this run's mean KL divergence against the budget and the plan's own figure."""
        check = self.check(quality)
        within = "within" if check["within_budget"] else "EXCEEDS"
        line = (f"plan re-verified: mean KL divergence {quality.kld_mean:.4g} {within} the plan's budget "
                f"{check['kld_budget']:g}")
        if check["recorded_kld_mean"] is not None:
            line += (f" (recorded when planned: {check['recorded_kld_mean']:.4g} on "
                     f"{self.file.measured.get('chunks', '?')} chunk(s))")
        return [line]

    def options(self) -> dict:
        """What the report shows as the NPU side's options: the plan file, the pipelines it uses, its settings."""
        used = sorted(set(self.file.assignment.values()))
        return {"plan": self.args.plan, "pipelines": ",".join(used) or "none", "seed": self.settings.seed,
                "w8_calib": self.settings.w8_calib}


def pipeline_sides(requested: str, settings, model, pipelines) -> tuple:
    """``(pipeline -> NpuMatmuls, the NPU side's name, notices)`` for each of ``pipelines`` (each once)."""
    from layoutscope.inference.evaluate import NpuMatmuls

    sides, name, notices = {}, None, []
    for pipeline in dict.fromkeys(pipelines):
        backend, told = npu_side(requested, settings.with_changes(pipeline=pipeline))
        sides[pipeline] = NpuMatmuls(backend, model)
        name = backend.name
        notices += [n for n in told if n not in notices]
    return sides, name, notices


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
