"""Capture real activations: the input llama.cpp feeds each matmul weight, and its output, over a text.

:func:`capture` runs the model on a text (the bundled prose by default) with
an :class:`~layoutscope.inference.engine.Engine` and keeps, for each matmul
weight, R rows of its real input X and llama.cpp's own output Y for them,
with their token positions (:class:`~layoutscope.measure.activations.Activations`,
written as ``.npz`` by ``layoutscope capture``).

The R rows are chosen before the first decode (:func:`plan_rows`): spread
evenly over every scored position of every chunk, so each chunk knows which
of its rows to keep and the observer copies only those. Memory stays R × (K +
N) floats per weight, whatever the text's length; a chunk's whole X is never
kept. Every weight gets the same positions, so rows line up across weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np

from layoutscope.errors import UsageError, printable, quoted
from layoutscope.measure.activations import Activations, Captured, model_fingerprint

#: Rows kept per weight when none are asked for.
DEFAULT_ROWS = 64
#: The longest chunk a capture decodes when --ctx is not given (clamped to the model's context).
DEFAULT_CTX = 512


class NothingMultiplied(UsageError):
    """None of the weights asked for is multiplied by llama.cpp (an embedding table, a norm): exit 2."""


def plan_rows(chunks, rows: int) -> tuple[dict, np.ndarray]:
    """``({chunk index: positions kept in it}, (R, 2) int32 (chunk, position))``: R rows spread over the text.

    R is ``rows``, or every scored position when the text has fewer. The rows
    are evenly spaced over the scored positions of all chunks, in text order.
    """
    if rows < 1:
        raise UsageError(f"--rows {rows}: keep at least one row per weight")
    everywhere = np.concatenate([np.stack([np.full(len(c.scored), c.index), c.scored], axis=1) for c in chunks])
    count = min(rows, len(everywhere))
    # Evenly spaced indices; with count ≤ len they are distinct after rounding (the spacing is at least one).
    picked = everywhere[np.linspace(0, len(everywhere) - 1, count).round().astype(np.int64)].astype(np.int32)
    per_chunk = {int(i): picked[picked[:, 0] == i, 1] for i in np.unique(picked[:, 0])}
    return per_chunk, picked


class CaptureObserver:
    """An engine observer that copies the planned rows of X and Y of each wanted weight into fixed arrays."""

    layers = False

    def __init__(self, names: Iterable[str], total_rows: int, checkpoint: Callable[[], None] = lambda: None):
        self.names = frozenset(names)
        self.total = total_rows
        self.store: dict[str, Captured] = {}
        self.checkpoint = checkpoint
        self._keep = np.zeros(0, dtype=np.int64)
        self._offset = 0
        self._tokens = 0

    def start_chunk(self, tokens: int, keep: np.ndarray, offset: int) -> None:
        """The next decode: ``tokens`` long, keeping positions ``keep`` as rows ``offset``… of the store."""
        self._tokens, self._keep, self._offset = tokens, np.asarray(keep, dtype=np.int64), offset

    def wants(self, weight: str) -> bool:
        """Only the weights asked for."""
        return weight in self.names

    def matmul(self, weight: str, x: np.ndarray, y: np.ndarray) -> None:
        """Copy the kept rows of ``x`` and ``y`` (views of ggml's memory) into the weight's arrays."""
        self.checkpoint()
        if len(x) != self._tokens or len(y) != self._tokens:
            raise ValueError(f"llama.cpp multiplied {printable(weight)} on {len(x)} rows of a {self._tokens}-token "
                             "chunk, so its rows cannot be matched to token positions; this architecture cannot be "
                             "captured yet")
        c = self.store.get(weight)
        if c is None:
            c = self.store[weight] = Captured(np.zeros((self.total, x.shape[1]), np.float32),
                                              np.zeros((self.total, y.shape[1]), np.float32),
                                              np.zeros((self.total, 2), np.int32))
        rows = slice(self._offset, self._offset + len(self._keep))
        c.x[rows] = x[self._keep]
        c.y[rows] = y[self._keep]

    def layer(self, index: int, hidden: np.ndarray) -> None:  # pragma: no cover - layers is False
        """Not asked for."""


@dataclass(frozen=True)
class Progress:
    """Where a capture is: chunks decoded of the total."""

    done: int
    total: int


def capture(model_path: str, text: Optional[str] = None, ctx: Optional[int] = None, rows: int = DEFAULT_ROWS,
            filter: Optional[str] = None, weights: Optional[Iterable[str]] = None, threads: Optional[int] = None,
            on_chunk: Callable[[Progress], None] = lambda p: None,
            checkpoint: Callable[[], None] = lambda: None) -> Activations:
    """Run the model over a text and keep ``rows`` rows of each matmul weight's real X and llama.cpp's Y.

    ``text`` is ``--text``: None for the bundled prose, ``-`` for stdin, or a
    path. ``ctx`` defaults to 512 clamped to the model's context. ``filter`` (a
    regex on names) or ``weights`` (names) choose the weights; only those
    llama.cpp really multiplies end up in the result. ``on_chunk`` follows the
    decodes; ``checkpoint`` is called often and may raise to stop (Ctrl-C
    stops too, raising KeyboardInterrupt). One-line UsageErrors for bad input;
    :class:`~layoutscope.inference.library.ModelRefused` for a model llama.cpp
    cannot load.
    """
    from layoutscope.gguf import open_model
    from layoutscope.gguf.name_filter import compile_filter
    from layoutscope.inference.engine import Engine
    from layoutscope.inference.text import chunks as cut, read_text

    if rows < 1:
        raise UsageError(f"--rows {rows}: keep at least one row per weight")
    name_filter = compile_filter(filter)
    content, label = read_text(text)
    with open_model(model_path) as model:
        names = [t.name for t in model.tensors]
        context = _context_length(model)
    wanted = set(names) if weights is None else set(weights) & set(names)
    if name_filter is not None:
        wanted = {n for n in wanted if name_filter.matches(n)}
        if not wanted:
            raise UsageError(f"--filter {quoted(filter)} matches none of the {len(names)} tensors of "
                             f"{printable(model_path)}; check the pattern (a regular expression searched in each name)")
    if ctx is None:
        ctx = min(DEFAULT_CTX, context) if context else DEFAULT_CTX
    with Engine(model_path, names, ctx=ctx, threads=threads) as engine:
        tokens = engine.tokenize(content)
        pieces = cut(tokens, ctx, engine.bos if engine.facts.add_bos else None)
        per_chunk, positions = plan_rows(pieces, rows)
        observer = CaptureObserver(wanted, len(positions), checkpoint)
        offset = 0
        on_chunk(Progress(0, len(pieces)))
        for piece in pieces:
            checkpoint()
            keep = per_chunk.get(piece.index)
            if keep is not None and len(keep):
                observer.start_chunk(len(piece.tokens), keep, offset)
                engine.decode(piece.tokens, observer)
                offset += len(keep)
            on_chunk(Progress(piece.index + 1, len(pieces)))
    for c in observer.store.values():
        c.positions[:] = positions
    if not observer.store:
        what = f"--filter {quoted(filter)} matches" if filter else "the weights asked for are"
        raise NothingMultiplied(f"{what} only tensors llama.cpp never multiplies (embedding tables, norms); "
                         "choose matmul weights such as blk.0.ffn_down.weight")
    order = {n: i for i, n in enumerate(names)}
    return Activations(weights={n: observer.store[n] for n in sorted(observer.store, key=order.get)},
                       model=str(model_path), fingerprint=model_fingerprint(model_path), text=label, ctx=int(ctx),
                       rows=int(rows), tokens=int(len(tokens)), chunks=len(pieces))


def _context_length(model) -> int:
    """The model's training context from its metadata (0 when it does not say)."""
    arch = model.metadata.get("general.architecture")
    value = model.metadata.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return int(value) if isinstance(value, int) and value > 0 else 0
