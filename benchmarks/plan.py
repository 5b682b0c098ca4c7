"""``plan`` on the tiny model and the real one (Gemma-3 270M Q4_K_M): wall time, evaluations, the plan's figures.

The anchor is one plain llama.cpp forward of the same chunks (no observer),
timed in the same process just before the plan, so the plan's wall time reads
as "so many forwards". Per model it prints the wall time of each phase
(sensitivity, greedy, verification), the number of whole-model evaluations,
the one-time requantization, and the verified plan: weights and shares
offloaded, mean KL divergence, top-1 agreement, ΔPPL, and the RKNPU_HYBRID
line's length. Each model runs in a child process of its own (its own peak RSS).

    python benchmarks/plan.py [--chunks 1] [--ctx 512] [--unit layer] [--kld-budget 0.01] [--tiny-only]
"""

from __future__ import annotations

import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TINY = os.path.join(HERE, "..", "samples", "tiny-llama-q8_0.gguf")


def run_one(path: str, args) -> None:
    """Plan one model in this process and print its lines."""
    from layoutscope.gguf import open_model
    from layoutscope.inference.evaluate import EvalRequest
    from layoutscope.measure.settings import RunSettings
    from layoutscope.planning.planner import PlanOptions, make_plan
    from layoutscope.planning.session import OffloadSession

    request = EvalRequest(ctx=args.ctx, chunks=args.chunks, threads=args.threads)
    options = PlanOptions(budget=args.kld_budget, unit=args.unit, objective=args.objective,
                          any_type=args.any_type)
    with open_model(path) as model:
        t0 = time.perf_counter()
        with OffloadSession(model, request, "npu-sim", RunSettings()) as session:
            t_open = time.perf_counter() - t0
            engine = session._engine  # the anchor decodes through the very engine the plan uses
            t_forward = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                for chunk in session.chunks:
                    engine.decode(chunk.tokens)
                t_forward = min(t_forward, time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = make_plan(session, options)
            t_plan = time.perf_counter() - t0
            requantize = session.requantize_seconds
        tokens = sum(len(c.tokens) for c in session.chunks)
        print(f"{os.path.basename(path)}: {len(session.chunks)} chunk(s), {tokens} tokens, "
              f"{len(session.weights)} matmul weights, unit {options.unit}, budget {options.budget:g}"
              + (", any type" if options.any_type else ""))
        print(f"  plain llama.cpp forward of the chunks (anchor): {t_forward:8.2f} s   (model load and chunking "
              f"{t_open:.2f} s, not counted)")
        print(f"  plan wall time: {t_plan:8.2f} s = {t_plan / t_forward:6.1f}x the anchor, "
              f"{result.passes} candidate evaluations (+ the references, decoded once)")
        print("    " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in result.seconds.items())
              + f"; one-time requantization {requantize:.2f} s (inside those)")
        if result.answered:
            q = result.verified
            print(f"  plan: {len(result.assignment)} of {len(result.facts)} weights, "
                  f"{100 * result.share('bytes'):.1f}% of bytes, {100 * result.share('macs'):.1f}% of MACs; "
                  f"KLD mean {q.kld_mean:.4g} p99 {q.kld_p99:.4g}, top-1 {100 * q.top1_agreement:.2f}%, "
                  f"ΔPPL {q.ppl_candidate - q.ppl_reference:+.4g}")
            pipelines = sorted(set(result.assignment.values()))
            print(f"    pipelines used: {', '.join(pipelines)}; kept on the CPU by type: {len(result.kept)}; "
                  + (f"RKNPU_HYBRID pattern of {len(result.hybrid.pattern.split(','))} tokens"
                     if result.hybrid and result.hybrid.pattern else
                     f"no RKNPU_HYBRID line ({result.hybrid.why_not if result.hybrid else 'no plan'})"))
        else:
            unit, pipeline, kld = result.minimum
            print(f"  no plan within {options.budget:g}: the least sensitive unit alone is {unit} on {pipeline}, "
                  f"KLD {kld:.4g}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"  peak RSS {peak / 2**20:7.1f} MiB")


def main() -> int:
    from _gemma import per_model_parser, run_per_model

    parser = per_model_parser(__doc__.splitlines()[0], timed=False)
    parser.add_argument("--chunks", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=None, help="tokens per chunk (default 512, or the model's)")
    parser.add_argument("--unit", default="layer", choices=("layer", "weight"))
    parser.add_argument("--objective", default="bytes", choices=("bytes", "macs"))
    parser.add_argument("--kld-budget", type=float, default=0.01)
    parser.add_argument("--any-type", action="store_true", help="also plan the types the backend keeps on the CPU")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.model:
        run_one(args.model, args)
        return 0
    run_per_model(__file__, TINY, args.tiny_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
