"""Answers: what to run on the NPU, and how, measured on the whole model (``plan``, the TUI's Offload screen).

* :mod:`~layoutscope.planning.units`: what moves to the NPU as one (a weight, or a layer's weights), its bytes
  and multiply-accumulates, and which weights the community backend can offload at all.
* :mod:`~layoutscope.planning.costs`: the pipelines from cheapest to dearest, and the CPU time a HADAMARD
  pipeline adds per token.
* :mod:`~layoutscope.planning.session`: :class:`OffloadSession`, one llama.cpp engine over a text kept open
  for many evaluations, with one requantized NPU side per pipeline and the reference runs cached.
* :mod:`~layoutscope.planning.sensitivity`: each unit offloaded alone under each pipeline, measured end to end.
* :mod:`~layoutscope.planning.greedy`: the plan grown by increasing sensitivity while the *measured* KL
  divergence of the whole plan stays within budget, then verified by one more evaluation.
* :mod:`~layoutscope.planning.hybrid_line`: the ``RKNPU_HYBRID`` pattern that reproduces a plan on the board.
* :mod:`~layoutscope.planning.plan_file`: ``plan.json``, written and read back (``eval --plan``).

It sits above :mod:`layoutscope.inference` (which runs the evaluations) and
below :mod:`layoutscope.report`. Importing it loads neither numpy nor llama.cpp.
"""
