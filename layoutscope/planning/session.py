"""One llama.cpp engine over a text, kept open for the many evaluations a plan or a sweep needs.

:class:`OffloadSession` loads the model once, tokenizes and chunks the text
once, finds llama.cpp's matmul weights once, and keeps:

- one :class:`~layoutscope.inference.evaluate.NpuMatmuls` per pipeline, so a
  weight is requantized once per pipeline however many candidates use it;
- the reference runs (logits and layer outputs) of every chunk, when they fit
  in :data:`REFERENCE_BUDGET` bytes, so each chunk's reference is decoded once.

Every evaluation goes through :func:`~layoutscope.inference.evaluate.evaluate`,
the function ``eval`` runs: a plan's figures are ``eval``'s figures.
"""

from __future__ import annotations

import threading
from typing import Mapping, Optional, Sequence

from layoutscope.inference.evaluate import Candidate, EvalRequest, NpuMatmuls, PerWeightSide, evaluate, \
    matmul_weights

#: Bytes of reference logits kept between evaluations (beyond it, each evaluation decodes its references again).
REFERENCE_BUDGET = 1536 * 1024 * 1024


class Cancelled(Exception):
    """An evaluation stopped by :meth:`OffloadSession.cancel` or a Ctrl-C before its last chunk."""


class OffloadSession:
    """The model in llama.cpp over ``request``'s text, ready to evaluate assignments of weights to pipelines.

    ``backend`` is the NPU side requested (``auto``, ``npu-sim``, ``npu``) and
    ``settings`` the run settings whose pipeline options (calibration, seed,
    fork options) every pipeline's side uses. Use it as a context manager.
    """

    def __init__(self, model, request: EvalRequest, backend: str, settings):
        self.model, self.request, self.requested, self.settings = model, request, backend, settings
        self.notices: list[str] = []
        self.passes = 0
        self._sides: dict[str, NpuMatmuls] = {}
        self._references: Optional[dict] = {}
        self._engine = None
        self._cancelled = threading.Event()

    def __enter__(self) -> "OffloadSession":
        from layoutscope.inference.engine import Engine
        from layoutscope.inference.text import chunks, read_text

        text, self.text_label = read_text(self.request.text)
        self._engine = Engine(self.model.path, [t.name for t in self.model.tensors], ctx=self.request.ctx,
                              threads=self.request.threads)
        try:
            self.facts = self._engine.facts
            self.chunks = chunks(self._engine.tokenize(text), self.facts.ctx,
                                 self._engine.bos if self.facts.add_bos else None,
                                 limit=self.request.chunks, scoring=self.request.scoring)
            self.weights = matmul_weights(self._engine, self.chunks[0].tokens)
        except BaseException:
            self._engine.close()
            raise
        tokens = sum(len(c.tokens) for c in self.chunks)
        if tokens * self.facts.n_vocab * 4 > REFERENCE_BUDGET:
            self._references = None
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free llama.cpp's model and context."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def cancel(self) -> None:
        """Stop the evaluation under way (from another thread); it raises :class:`Cancelled`."""
        self._cancelled.set()
        if self._engine is not None:
            self._engine.cancel()

    def resume(self) -> None:
        """Allow evaluations again after :meth:`cancel` (call it when a new job starts, e.g. the TUI's next run)."""
        self._cancelled.clear()
        if self._engine is not None:
            self._engine.resume()

    def side(self, pipeline: str) -> NpuMatmuls:
        """The NPU side of ``pipeline`` (made once; its notices join :attr:`notices`)."""
        side = self._sides.get(pipeline)
        if side is None:
            from layoutscope.inference.npu_sides import npu_side_for

            backend, told = npu_side_for(self.requested, self.settings.with_changes(pipeline=pipeline))
            self.notices += [n for n in told if n not in self.notices]
            side = self._sides[pipeline] = NpuMatmuls(backend, self.model)
        return side

    def candidate(self, label: str, assignment: Mapping[str, str]) -> Candidate:
        """A candidate that offloads each weight of ``assignment`` (weight → pipeline) on its pipeline's side."""
        sides = {pipeline: self.side(pipeline) for pipeline in dict.fromkeys(assignment.values())}
        return Candidate(label, tuple(assignment), side=PerWeightSide(assignment, sides))

    def evaluate(self, candidates: Sequence[Candidate], progress=lambda step, done, total: None):
        """Every candidate over the session's chunks (an :class:`~layoutscope.inference.evaluate.EvalRun`).

        Raises :class:`Cancelled` when the run was stopped before its last
        chunk: a partial measurement never stands in for a whole one.
        """
        if self._cancelled.is_set():
            raise Cancelled("cancelled")
        fallback = self.side(next(iter(self._sides), "W8A8_STANDARD"))
        run = evaluate(self._engine, self.chunks, candidates, fallback, progress, references=self._references)
        self.passes += sum(1 for c in candidates if c.selected)
        if not run.complete or self._cancelled.is_set():
            raise Cancelled(f"stopped after {run.chunks_done} of {run.chunks_total} chunks")
        return run

    @property
    def backend_name(self) -> str:
        """The name of the backend computing the NPU side ("" before the first pipeline's side is made)."""
        return next((side.backend.name for side in self._sides.values()), "")

    @property
    def requantize_seconds(self) -> float:
        """The one-time requantization cost of every pipeline's side so far."""
        return sum(side.requantize_seconds for side in self._sides.values())
