"""Many matmuls: a whole model scanned, two models diffed, a bug diagnosed, the board checked.

* :mod:`~layoutscope.analyses.scan`: every matmul weight through both sides, ranked, per layer.
* :mod:`~layoutscope.analyses.diff`: what changed between two models, tensor by tensor.
* :mod:`~layoutscope.analyses.diagnose`: which known layout bug explains an observed NPU output.
* :mod:`~layoutscope.analyses.doctor`: can this machine run the NPU path, and if not, what to do.
"""
