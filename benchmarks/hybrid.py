"""One ``eval --hybrid`` pass with every eligible weight offloaded vs llama.cpp's plain forward of the same tokens.

For each model (the bundled tiny LLaMA, then the cached Gemma-3 270M Q4_K_M,
fetched once by ``_gemma.py``), one chunk of the bundled text is decoded by
the engine ``eval`` uses and timed as:

- the plain forward, no observer (the anchor);
- the candidate pass of ``eval --hybrid PATTERN`` (default: ``default``, the
  backend's mapping by type, which offloads every eligible weight: F16, Q8_0,
  Q6_K, Q4_0), through :func:`~layoutscope.inference.evaluate.evaluate` itself,
  so it includes everything ``eval`` does per matmul (the NPU side's result
  written into the graph, its error against llama.cpp's tallied, the hidden
  states compared per layer); each weight is requantized once beforehand and
  that cache serves every repeat (target ≤ 2×).

The one-time requantization is printed beside it, against ggml's ``to_float``
of the same weights. So is a floor no numpy emulator can beat: the plain
forward plus one float32 BLAS matmul per offloaded weight on its real input
(weights cached as float32), which is what the ≤ 2× target is up against. Timed pairs run interleaved (best of --repeat each), so a
busy machine slows both sides alike. Each model runs in a child process.

    python benchmarks/hybrid.py [--pattern default] [--tokens 128] [--threads 2] [--repeat 5] [--tiny-only]
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _timing import best_of  # noqa: E402

TINY = os.path.join(HERE, "..", "samples", "tiny-llama-q8_0.gguf")


def run_one(path: str, pattern: str, tokens: int, threads: int, repeat: int) -> None:
    """Measure one model in this process and print its lines."""
    import layoutscope
    from layoutscope.backend.libggml import load
    from layoutscope.inference.engine import Engine
    from layoutscope.inference.evaluate import Candidate, NpuMatmuls, evaluate, matmul_weights
    from layoutscope.inference.hybrid import HybridSide, assign
    from layoutscope.inference.npu_sides import npu_side_for
    from layoutscope.inference.text import chunks, read_text
    from layoutscope.measure.settings import RunSettings

    model = layoutscope.open(path)
    with Engine(path, [t.name for t in model.tensors], ctx=tokens, threads=threads) as engine:
        todo = chunks(engine.tokenize(read_text(None)[0]), engine.facts.ctx,
                      engine.bos if engine.facts.add_bos else None, limit=1)
        ids = todo[0].tokens
        weights = matmul_weights(engine, ids)
        plan = assign(model, pattern, matmul=weights)
        sides = {p: NpuMatmuls(npu_side_for("npu-sim", RunSettings().with_changes(pipeline=p))[0], model)
                 for p in dict.fromkeys(plan.offloaded.values())}
        candidate = Candidate(f"hybrid:{pattern}", tuple(plan.offloaded), side=HybridSide(plan, sides))
        facts = {name: model.tensor(name) for name in weights}
        macs = {name: int(t.ne[0]) * int(t.ne[1]) for name, t in facts.items()}
        share = sum(macs[n] for n in plan.offloaded) / sum(macs.values())
        mix = Counter(plan.offloaded.values())
        print(f"{os.path.basename(path)}: {len(ids)} tokens, {len(weights)} matmul weights, --hybrid {pattern}: "
              f"{len(plan.offloaded)} offloaded ({100 * share:.1f}% of MACs: "
              f"{', '.join(f'{p} ×{n}' for p, n in mix.items())}), llama.cpp threads {engine.facts.threads}")

        ggml = load()

        def to_float_all():
            for name in plan.offloaded:
                t = facts[name]
                ggml.to_float(t.type.id, t.raw(), t.n_elements)

        t_to_float = best_of(to_float_all, 2)
        t0 = time.perf_counter()
        for name in plan.offloaded:
            candidate.side.prepare(name)
        t_prepare = time.perf_counter() - t0
        print(f"  one-time requantization of the offloaded weights: {t_prepare * 1e3:8.1f} ms "
              f"= {t_prepare / t_to_float:5.2f}x ggml to_float of them ({t_to_float * 1e3:.1f} ms)")

        references: dict = {}
        evaluate(engine, todo, [candidate], candidate.side, references=references)  # the reference, kept
        best_plain, best_pass = float("inf"), float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            engine.decode(ids)
            best_plain = min(best_plain, time.perf_counter() - t0)
            run = evaluate(engine, todo, [candidate], candidate.side, references=references)
            best_pass = min(best_pass, run.results[0].seconds)
        q = run.results[0].quality
        inputs = _inputs(engine, ids, set(plan.offloaded))
        floats = {name: facts[name].dequantize() for name in plan.offloaded}
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # as inside the graph (see evaluate)
            t_floor = best_of(lambda: [inputs[name] @ floats[name].T for name in plan.offloaded], repeat)
        r = best_pass / best_plain
        print(f"  plain llama.cpp forward (anchor):        {best_plain * 1e3:8.1f} ms")
        print(f"  eval --hybrid candidate pass:            {best_pass * 1e3:8.1f} ms = {r:5.2f}x anchor  "
              f"(target ≤ 2x: {'met' if r <= 2 else 'MISSED'})")
        r_floor = (best_plain + t_floor) / best_plain
        print(f"  floor: the forward + a float32 matmul per offloaded weight: {(best_plain + t_floor) * 1e3:8.1f} ms "
              f"= {r_floor:5.2f}x anchor")
        print(f"  its figures: KLD mean {q.kld_mean:.4g}, top-1 {100 * q.top1_agreement:.2f}%, "
              f"PPL {q.ppl_reference:.4g} → {q.ppl_candidate:.4g}")


class _Inputs:
    """Keeps the real input X of each wanted weight's matmul in one decode."""

    layers = False

    def __init__(self, wanted):
        self.wanted, self.x = wanted, {}

    def wants(self, weight):
        return weight in self.wanted

    def matmul(self, weight, x, y):
        self.x[weight] = x.copy()


def _inputs(engine, ids, wanted) -> dict:
    observer = _Inputs(wanted)
    engine.decode(ids, observer)
    return observer.x


def main() -> int:
    from _gemma import per_model_parser, run_per_model

    parser = per_model_parser(__doc__.splitlines()[0])
    parser.add_argument("--pattern", default="default", help="the RKNPU_HYBRID pattern (default: 'default')")
    args = parser.parse_args()
    if args.model:
        run_one(args.model, args.pattern, args.tokens, args.threads, args.repeat)
        return 0
    run_per_model(__file__, TINY, args.tiny_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
