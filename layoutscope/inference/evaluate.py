"""``eval``: the model with part of it on the NPU side, against llama.cpp unmodified, over the same tokens.

Per chunk of text, the *reference* run is llama.cpp as it is; its logits and
its layer outputs are kept for that chunk only. Each *candidate* run decodes
the same tokens again, and every selected MUL_MAT is recomputed on the NPU side
from its real input (the input of *this* run, which earlier NPU-side results
have already moved) and written back into the graph. Per candidate:

- end to end, :class:`~layoutscope.inference.quality.Quality` of its logits;
- per layer, the residual stream against the reference's ("entire": the error
  accumulated up to there), NMSE and cosine;
- per selected weight, its NPU-side output against llama.cpp's output on the
  same input ("single": the error the weight adds by itself).

Weights are requantized once (:class:`NpuMatmuls`) and reused by every chunk
and every candidate of a sweep. Ctrl-C ends the run after the last whole
chunk: the result is a valid partial report (``complete`` False).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from layoutscope.inference.engine import Engine
from layoutscope.inference.quality import PositionScores, Quality, score_positions
from layoutscope.inference.selection import first_layers
from layoutscope.inference.text import Chunk


#: Elements converted to float64 at a time by :meth:`ErrorTally.add` (16 MiB).
TALLY_ELEMENTS = 1 << 21


class ErrorTally:
    """Sums over many rows of a candidate B against a reference A, for a pooled NMSE and cosine."""

    __slots__ = ("err2", "ref2", "dot", "cand2", "rows")

    def __init__(self) -> None:
        self.err2 = self.ref2 = self.dot = self.cand2 = 0.0
        self.rows = 0

    def add(self, candidate: np.ndarray, reference: np.ndarray) -> None:
        """Add rows (same shape in both)."""
        reference = np.asarray(reference)
        self.rows += reference.shape[0] if reference.ndim > 1 else 1
        width = reference.shape[-1] if reference.ndim else 1
        b_rows = np.asarray(candidate).reshape(-1, width)
        a_rows = reference.reshape(-1, width)
        # Blocks of rows in float64: an output head's (512, 262144) would be 1 GiB per float64 copy.
        step = max(1, TALLY_ELEMENTS // max(1, width))
        for start in range(0, a_rows.shape[0], step):
            b = b_rows[start:start + step].astype(np.float64)
            a = a_rows[start:start + step].astype(np.float64)
            self.ref2 += float(np.vdot(a, a))
            self.dot += float(np.vdot(a, b))
            self.cand2 += float(np.vdot(b, b))
            np.subtract(b, a, out=b)
            self.err2 += float(np.vdot(b, b))

    def merge(self, other: "ErrorTally") -> None:
        """Add another tally's sums."""
        self.err2 += other.err2
        self.ref2 += other.ref2
        self.dot += other.dot
        self.cand2 += other.cand2
        self.rows += other.rows

    @property
    def nmse(self) -> float:
        """Σ(B − A)² / ΣA² (0 when both are zero, inf when only A is)."""
        if self.ref2 == 0.0:
            return 0.0 if self.err2 == 0.0 else float("inf")
        return self.err2 / self.ref2

    @property
    def cosine(self) -> float:
        """The cosine between A and B flattened (1 when both are zero)."""
        norms = np.sqrt(self.ref2 * self.cand2)
        if norms == 0.0:
            return 1.0 if self.err2 == 0.0 else 0.0
        return float(self.dot / norms)


class NpuMatmuls:
    """The NPU side of a candidate: ``side(weight_name, x) -> y``, each weight requantized once.

    ``backend`` is any :class:`~layoutscope.backend.Backend`; an NPU backend's
    ``prepare`` runs on a weight's first use and its requantized codes are
    kept (the dequantized float copy is dropped). ``requantize_seconds`` is
    the one-time cost so far.
    """

    def __init__(self, backend, model):
        self.backend = backend
        self._model = model
        self._prepared: dict = {}
        self.requantize_seconds = 0.0

    def prepare(self, name: str):
        """The weight's prepared form (made once); None for backends that multiply the file's bytes directly."""
        if not hasattr(self.backend, "prepare"):
            return None
        prepared = self._prepared.get(name)
        if prepared is None:
            t0 = time.perf_counter()
            prepared = self.backend.prepare(self._model.tensor(name), keep_values=False)
            self.requantize_seconds += time.perf_counter() - t0
            self._prepared[name] = prepared
        return prepared

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        prepared = self.prepare(name)
        if prepared is None:
            return self.backend.matmul(self._model.tensor(name), x).y
        return self.backend.matmul_prepared(prepared, x).y


class PerWeightSide:
    """An NPU side that sends each weight to the side of its own pipeline (a hybrid pattern, a plan)."""

    def __init__(self, assignment: dict, sides: dict):
        #: weight name -> pipeline name; ``sides``: pipeline name -> :class:`NpuMatmuls`.
        self.assignment = dict(assignment)
        self._sides = sides

    @property
    def requantize_seconds(self) -> float:
        """The one-time requantization cost of every pipeline's side."""
        return sum(side.requantize_seconds for side in self._sides.values())

    def prepare(self, name: str):
        """The weight's prepared form under its pipeline."""
        return self._sides[self.assignment[name]].prepare(name)

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        return self._sides[self.assignment[name]](name, x)


@dataclass(frozen=True)
class Candidate:
    """One candidate run: its label, its sweep point (k leading layers, or a pipeline) if any, its NPU-side weights."""

    label: str
    selected: tuple[str, ...]
    k: Optional[int] = None
    #: Another NPU side for this candidate alone (e.g. the same pipeline with another sign seed), and its seed.
    side: Optional[object] = field(default=None, compare=False)
    seed: Optional[int] = None
    #: The pipeline this candidate is the ``--sweep pipelines`` point of.
    pipeline: Optional[str] = None


def sweep_first_k(weights: Sequence[str], n_layer: int) -> list[Candidate]:
    """The candidates of ``--sweep first-k``: k = 0, 1, …, n_layer leading layers on the NPU side."""
    return [Candidate(f"first:{k}", first_layers(weights, k), k) for k in range(n_layer + 1)]


@dataclass
class CandidateResult:
    """What one candidate run measured over the chunks done."""

    candidate: Candidate
    scores: PositionScores = field(default_factory=PositionScores)
    layers: dict = field(default_factory=dict)   # layer index -> ErrorTally (hidden state vs the reference)
    weights: dict = field(default_factory=dict)  # weight name -> ErrorTally (NPU side vs llama.cpp, same input)
    identical_logits: bool = True
    seconds: float = 0.0

    @property
    def quality(self) -> Quality:
        """The end-to-end summary."""
        return Quality.of(self.scores)

    def merge(self, chunk: "CandidateResult") -> None:
        """Add one chunk's measurements."""
        self.scores.extend(chunk.scores)
        for table, other in ((self.layers, chunk.layers), (self.weights, chunk.weights)):
            for key, tally in other.items():
                table.setdefault(key, ErrorTally()).merge(tally)
        self.identical_logits &= chunk.identical_logits
        self.seconds += chunk.seconds


@dataclass
class EvalRun:
    """A whole ``eval``: the candidates' results over the chunks done, and how long each part took."""

    results: list
    chunks_done: int
    chunks_total: int
    reference_seconds: float = 0.0
    requantize_seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Whether every chunk was run (False after a Ctrl-C)."""
        return self.chunks_done == self.chunks_total


class _Reference:
    """Keeps the layer outputs of a reference decode."""

    layers = True

    def __init__(self) -> None:
        self.hidden: dict[int, np.ndarray] = {}

    def wants(self, weight: str) -> bool:
        return False

    def matmul(self, weight: str, x: np.ndarray, y: np.ndarray) -> None:  # pragma: no cover - never wanted
        pass

    def layer(self, index: int, hidden: np.ndarray) -> None:
        self.hidden[index] = np.array(hidden, copy=True)


class _Injecting:
    """Recomputes the selected matmuls on the NPU side, writes them into the graph, and tallies both errors."""

    layers = True

    def __init__(self, selected, side: NpuMatmuls, reference_hidden: dict, result: CandidateResult):
        self._selected = frozenset(selected)
        self._side = side
        self._reference_hidden = reference_hidden
        self._result = result

    def wants(self, weight: str) -> bool:
        return weight in self._selected

    def matmul(self, weight: str, x: np.ndarray, y: np.ndarray) -> None:
        npu = self._side(weight, x)
        self._result.weights.setdefault(weight, ErrorTally()).add(npu, y)
        y[...] = npu

    def layer(self, index: int, hidden: np.ndarray) -> None:
        reference = self._reference_hidden.get(index)
        if reference is not None and reference.shape == hidden.shape:
            self._result.layers.setdefault(index, ErrorTally()).add(hidden, reference)


class _Names:
    """Records the weights of the MUL_MATs llama.cpp runs, in its order."""

    layers = False

    def __init__(self) -> None:
        self.names: list[str] = []

    def wants(self, weight: str) -> bool:
        return True

    def matmul(self, weight: str, x: np.ndarray, y: np.ndarray) -> None:
        if weight not in self.names:
            self.names.append(weight)

    def layer(self, index: int, hidden: np.ndarray) -> None:  # pragma: no cover - layers False
        pass


def matmul_weights(engine: Engine, tokens: np.ndarray) -> list[str]:
    """The weights llama.cpp runs as MUL_MAT, in the order it first runs them (a decode of two tokens)."""
    names = _Names()
    engine.decode(np.asarray(tokens[:2], dtype=np.int32), names)
    return names.names


#: ``progress(step, done, total)``: called after each decode (``step`` is "reference" or a candidate's label).
Progress = Callable[[str, int, int], None]


def evaluate(engine: Engine, chunks: Sequence[Chunk], candidates: Sequence[Candidate], side: NpuMatmuls,
             progress: Progress = lambda step, done, total: None,
             references: Optional[dict] = None) -> EvalRun:
    """Run the reference and every candidate over ``chunks``; a Ctrl-C returns what the whole chunks measured.

    ``references`` (chunk index -> its reference run), when given, keeps the
    reference runs for the next call over the same chunks (a planner's many
    passes decode each reference once); a chunk found there is not decoded.
    """
    results = [CandidateResult(c) for c in candidates]
    run = EvalRun(results, 0, len(chunks))
    total, done = len(chunks) * (1 + len(candidates)), 0
    from threadpoolctl import threadpool_limits

    # llama.cpp's threads wait (spinning) while the NPU side computes inside its graph: BLAS threads of
    # the NPU side's numpy would only compete with them (measured 10× slower with 2 BLAS threads on 2 cores).
    blas = threadpool_limits(limits=1, user_api="blas")
    try:
        # Every NPU-side weight is requantized (and every module it needs imported) before the first decode.
        for c in candidates:
            for name in c.selected:
                (c.side or side).prepare(name)
        for index, chunk in enumerate(chunks):
            t0 = time.perf_counter()
            kept = references.get(index) if references is not None else None
            if kept is None:
                reference = _Reference()
                reference_logits = np.array(engine.decode(chunk.tokens, reference), copy=True)
                if references is not None:
                    references[index] = (reference, reference_logits)
            else:
                reference, reference_logits = kept
            run.reference_seconds += time.perf_counter() - t0
            measured: list = []
            for step, result in enumerate([None, *results]):  # the reference's step, then each candidate's
                if result is not None:
                    measured.append(_run_candidate(engine, chunk, result.candidate, result.candidate.side or side,
                                                   reference, reference_logits))
                if step == len(results):  # the chunk is whole: it counts before its last progress report
                    for whole, chunk_result in zip(results, measured):
                        whole.merge(chunk_result)
                    run.chunks_done += 1
                done += 1
                progress("reference" if result is None else result.candidate.label, done, total)
    except KeyboardInterrupt:
        pass
    finally:
        blas.unregister()
    run.requantize_seconds = side.requantize_seconds + sum(c.side.requantize_seconds for c in candidates if c.side)
    return run


def _run_candidate(engine: Engine, chunk: Chunk, candidate: Candidate, side: NpuMatmuls,
                   reference: _Reference, reference_logits: np.ndarray) -> CandidateResult:
    result = CandidateResult(candidate)
    if not candidate.selected:
        # Nothing on the NPU side: the candidate is the reference run itself.
        result.scores = score_positions(reference_logits, reference_logits, chunk.scored, chunk.targets)
        for index, hidden in reference.hidden.items():
            result.layers.setdefault(index, ErrorTally()).add(hidden, hidden)
        return result
    t0 = time.perf_counter()
    logits = engine.decode(chunk.tokens, _Injecting(candidate.selected, side, reference.hidden, result))
    result.seconds = time.perf_counter() - t0
    result.scores = score_positions(reference_logits, logits, chunk.scored, chunk.targets)
    result.identical_logits = bool(np.array_equal(reference_logits, logits))
    return result


@dataclass(frozen=True)
class EvalRequest:
    """What to run: the text (None: the bundled one), chunking and scoring, the selection, the sweep, threads."""

    text: Optional[str] = None
    ctx: Optional[int] = None
    chunks: Optional[int] = None
    scoring: str = "all"
    npu: str = "all"
    sweep: Optional[str] = None
    threads: Optional[int] = None


@dataclass
class EvalOutcome:
    """An :class:`EvalRun` with what it ran on: engine facts, llama.cpp's matmul weights, the text's label."""

    run: EvalRun
    facts: object
    weights: list
    text_label: str


def eval_model(model, request: EvalRequest, backend, progress: Progress = lambda step, done, total: None,
               candidates_only: bool = False, seeded: Sequence[tuple] = (),
               hybrid: Optional[Callable[[list], Candidate]] = None,
               more: Optional[Callable[[list], list]] = None) -> EvalOutcome:
    """Load ``model`` (a :class:`~layoutscope.gguf.Model`) into llama.cpp and evaluate ``request`` with ``backend``.

    The candidates are the ``--npu`` selection, then the sweep's points; with
    ``candidates_only`` the selection is left out (a scan's ``--end-to-end``
    wants the sweep alone). ``seeded`` holds ``(seed, backend)`` pairs: the
    selection again on each of those backends (``--seeds``). ``hybrid`` makes
    the main candidate from llama.cpp's matmul weights instead of ``--npu``
    (``--hybrid``: each weight on its own pipeline's side). ``more`` makes
    further candidates from the selected weights (``--sweep pipelines``).
    """
    from layoutscope.inference.selection import select
    from layoutscope.inference.text import chunks, read_text

    text, label = read_text(request.text)
    with Engine(model.path, [t.name for t in model.tensors], ctx=request.ctx, threads=request.threads) as engine:
        facts = engine.facts
        todo = chunks(engine.tokenize(text), facts.ctx, engine.bos if facts.add_bos else None,
                      limit=request.chunks, scoring=request.scoring)
        weights = matmul_weights(engine, todo[0].tokens)
        selected = select(request.npu, weights, facts.n_layer)
        main = hybrid(weights) if hybrid is not None else Candidate(request.npu, selected)
        candidates = [] if candidates_only else [main]
        candidates += [Candidate(f"seed {seed}", selected, side=NpuMatmuls(other, model), seed=seed)
                       for seed, other in seeded]
        if request.sweep == "first-k":
            candidates += sweep_first_k(weights, facts.n_layer)
        if more is not None:
            candidates += more(list(selected))
        run = evaluate(engine, todo, candidates, NpuMatmuls(backend, model), progress)
    return EvalOutcome(run, facts, weights, label)
