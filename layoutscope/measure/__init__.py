"""One matmul measured: the settings it runs with, its input X, the run on both sides, and the score.

* :mod:`~layoutscope.measure.settings`: the run settings (``RunSettings``), each declared once with its
  validator; the CLI's options and the TUI's settings dialog (:mod:`~layoutscope.measure.settings_form`)
  are made from it.
* :mod:`~layoutscope.measure.inputs`: activations X (random, token embeddings, a .npy) and memory checks
  (:mod:`~layoutscope.measure.memory`).
* :mod:`~layoutscope.measure.metrics`: NMSE, SNR, cosine, worst elements (:func:`compare`), judged by
  the verdict bands of :mod:`~layoutscope.measure.bands`; :mod:`~layoutscope.measure.nonfinite` says where
  NaN and inf are.
* :mod:`~layoutscope.measure.comparison`: one weight through the NPU side and the CPU reference.
* :mod:`~layoutscope.measure.session`: the same run as the TUI drives it (stages, cancel), and
  :mod:`~layoutscope.measure.verdicts`, each tensor's latest verdict.
"""

from __future__ import annotations

__all__ = ["Metrics", "compare"]


def __getattr__(name: str):
    if name in __all__:
        from layoutscope.measure import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
