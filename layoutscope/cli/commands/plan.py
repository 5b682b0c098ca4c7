"""``layoutscope plan``: which weights can go to the NPU, with which pipeline, within a KL divergence budget.

The model runs in llama.cpp (:class:`~layoutscope.planning.session.OffloadSession`);
the planner (:func:`~layoutscope.planning.planner.make_plan`) measures, grows
and verifies the plan. Progress goes to stderr. Outputs are checked before
any work and written atomically after it; Ctrl-C stops with no plan (a
partial search is no answer) and exit 130. An infeasible budget is exit 0,
or 3 with ``--fail-on infeasible``.
"""

from __future__ import annotations

import sys

from layoutscope.cli.outputs import Outputs
from layoutscope.cli.progress import Progress
from layoutscope.errors import EXIT_UNAVAILABLE, EXIT_VERDICT


def run(args) -> int:
    """Plan, print, write the plan file and the reports, and choose the exit code."""
    from layoutscope.cli import interrupts
    from layoutscope.gguf import Model
    from layoutscope.inference.evaluate import EvalRequest
    from layoutscope.measure.settings import RunSettings
    from layoutscope.planning.costs import CHEAPEST_FIRST
    from layoutscope.planning.plan_file import plan_for, plan_settings
    from layoutscope.planning.planner import PlanOptions, make_plan
    from layoutscope.planning.session import Cancelled, OffloadSession
    from layoutscope.report.destinations import prepare
    from layoutscope.report.plan_report import PlanContext, as_dict, as_text, plan_details, quality_dict, \
        write_sensitivity_csv

    settings = RunSettings.from_args(args)
    options = PlanOptions(budget=args.kld_budget, pipelines=args.pipelines or CHEAPEST_FIRST,
                          objective=args.objective, unit=args.unit, any_type=args.any_type)
    request = EvalRequest(text=args.text, ctx=args.ctx, chunks=args.chunks, scoring=args.score,
                          threads=args.threads)
    with Model(args.file) as model:
        inputs = [args.text] if args.text not in (None, "-") else []
        outputs = Outputs(args, models=model.paths, inputs=inputs)
        plan_file = None
        if args.output is not None:
            plan_file = prepare({"--output": args.output}, models=model.paths, inputs=inputs,
                                allow_stdout=False)["--output"]
        try:
            with OffloadSession(model, request, args.backend, settings) as session, \
                    Progress("planning") as update:
                result = make_plan(session, options, _evaluations(update))
                context = PlanContext(model=args.file, text=session.text_label, engine=session.facts.to_dict(),
                                      backend=session.backend_name or args.backend, settings=plan_settings(settings),
                                      chunks=len(session.chunks), notices=list(session.notices))
        except (Cancelled, KeyboardInterrupt):
            print("layoutscope: plan interrupted: no plan (a search cut short is not an answer)", file=sys.stderr)
            return interrupts.exit_code()
        if plan_file is not None and result.answered:
            measured = {"text": context.text, "chunks": context.chunks, "ctx": context.engine["ctx"],
                        "scoring": args.score, **quality_dict(result.verified)}
            data = plan_for(model, result.assignment, settings, options.budget, measured,
                            plan_details(result)).to_dict()
            from layoutscope.cli.outputs import write_json

            with plan_file.open() as stream:
                write_json(stream, data)
            outputs.notices.append(f"wrote the plan to {plan_file.path} (re-verify: layoutscope eval "
                                   f"{args.file} --plan {plan_file.path})")
        elif plan_file is not None:
            outputs.notices.append(f"no plan file written to {args.output}: there is no verified plan")
        outputs.export("--csv", lambda stream: write_sensitivity_csv(stream, result))
        data = as_dict(result, context, model)
        outputs.export_json(data)
        outputs.print_report(lambda: as_text(result, context, model, written=outputs.notices), lambda: data)
        outputs.finish()
    if result.feasible and not result.answered:
        return EXIT_UNAVAILABLE
    if not result.feasible and args.fail_on == "infeasible":
        return EXIT_VERDICT
    return 0


def _evaluations(update):
    """The planner's progress: a bar over each evaluation's decodes, and a line when one is done."""
    def step(label: str, done: int, total: int) -> None:
        phase = label.split(":", 1)[0]
        update(done, total, label, f"{phase}: evaluation done ({total} decodes)" if done == total else "")

    return step
