"""A model run by llama.cpp, with an observer inside its graph: the real X and Y of every matmul, the layer outputs.

:class:`Engine` loads a GGUF model with llama.cpp (memory-mapped, read only),
tokenizes text, and decodes one chunk of tokens at a time as a single
micro-batch, so every matmul of a chunk is one graph node with M = the chunk's
length. During a decode, the scheduler's evaluation callback hands each
observed node to an :class:`Observer`:

- ``matmul(weight, x, y)`` for every MUL_MAT whose ``src[0]`` is a weight of
  the file: ``x`` is the real input (M, K) and ``y`` the output llama.cpp
  computed (M, N), a writable view of the graph's memory. What the observer
  writes into ``y`` is what every later op reads: that is how an NPU-side
  result enters the model.
- ``layer(index, hidden)`` for every layer output ``l_out-<index>`` (the
  residual stream), when the observer asks for layers.

An exception raised by the observer (or a Ctrl-C arriving during the
compute) is recorded, the callback returns false, which cancels the compute,
and the exception is raised again after ``llama_decode`` returns: nothing
raised inside a C callback is swallowed.

Weight repacking (``use_extra_bufts``) is off: a repacked weight is not the
file's bytes, and the standalone ggml reference of :mod:`layoutscope.backend`
multiplies the file's bytes. :attr:`Engine.facts` reports the choice.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import threading
from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from layoutscope.errors import ResourceError, clipped_path, printable
from layoutscope.inference.graph import LayoutMismatch, Node, check_layout, op_id
from layoutscope.inference.library import LOG, EngineUnavailable, ModelRefused, llama

#: Tokens per chunk when none are asked for (llama-perplexity's default), or the model's context if shorter.
DEFAULT_CTX = 512
#: llama.cpp's name of the residual stream after layer i.
_LAYER_OUTPUT = re.compile(r"l_out-(\d+)$")


class Observer(Protocol):
    """What a decode reports to (all methods are called from inside llama.cpp's compute)."""

    #: Whether :meth:`layer` is wanted.
    layers: bool

    def wants(self, weight: str) -> bool:
        """Whether the matmul of ``weight`` (a GGUF tensor name) is to be handed over."""

    def matmul(self, weight: str, x: np.ndarray, y: np.ndarray) -> None:
        """The computed matmul of ``weight``: input ``x`` (M, K), output ``y`` (M, N), writable."""

    def layer(self, index: int, hidden: np.ndarray) -> None:
        """The residual stream after layer ``index``, (M, width); valid only during the call."""


class DecodeFailed(ResourceError):
    """llama.cpp could not decode a chunk (out of memory, or an error it logged); exit 1, its reason."""


@dataclass(frozen=True)
class EngineFacts:
    """What the engine ran with, for reports: llama.cpp's own choices included."""

    n_vocab: int
    n_ctx_train: int
    n_layer: int
    n_embd: int
    threads: int
    ctx: int
    add_bos: bool
    repack: bool

    def to_dict(self) -> dict:
        """Plain data for JSON reports."""
        return {"n_vocab": self.n_vocab, "n_ctx_train": self.n_ctx_train, "n_layer": self.n_layer,
                "n_embd": self.n_embd, "threads": self.threads, "ctx": self.ctx, "add_bos": self.add_bos,
                "weight_repacking": self.repack}


#: The signals whose Python handlers wait until a decode is over (Ctrl-C; SIGTERM and SIGHUP as the CLI handles them).
_DEFERRED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _signals_deferred(received: list, cancel: threading.Event):
    """During a decode, a signal with a Python handler only records itself and cancels the compute.

    Python runs a signal's handler at the next bytecode, which during a decode
    is inside one of the callbacks C calls, possibly before its ``try``: the
    exception would escape into ctypes, which prints and ignores it. Deferred,
    the handler runs again right after the decode, in plain Python.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; a worker is cancelled with Engine.cancel
        return
    previous = {}

    def record(signum, _frame) -> None:
        received.append((signum, previous[signum]))
        cancel.set()

    try:
        for signum in _DEFERRED:
            handler = signal.getsignal(signum)
            if callable(handler):
                previous[signum] = handler  # known before ``record`` can run
                signal.signal(signum, record)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def default_threads() -> int:
    """llama.cpp's threads when none are asked for: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Engine:
    """One model loaded by llama.cpp, decoding chunks of at most ``ctx`` tokens with an observer.

    ``ctx`` is the longest chunk (None: :data:`DEFAULT_CTX`, or the model's
    trained context when shorter; more than that is refused). ``weights`` are the GGUF names of the file's tensors: only MUL_MATs whose
    ``src[0]`` is one of them are handed to observers (attention's KQ and KQV
    products multiply caches, not weights). Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, path: str, weights, ctx: Optional[int] = None, threads: Optional[int] = None):
        self.path = path
        self._lib = lib = llama()
        self._weights = frozenset(weights)
        self._lock = threading.Lock()
        self._observer: Optional[Observer] = None
        self._failure: Optional[BaseException] = None
        self._cancel = threading.Event()
        self._model = self._context = self._batch = None
        self._prepare_graph_reading()
        params = lib.llama_model_default_params()
        params.n_gpu_layers = 0
        params.load_mode = lib.LLAMA_LOAD_MODE_MMAP  # read only: the model file is never written
        params.use_extra_bufts = False  # see the module's docstring
        mark = LOG.mark()
        self._model = lib.llama_model_load_from_file(os.fsencode(path), params)
        if not self._model:
            reason = LOG.reason(mark) or "it logged no reason"
            raise ModelRefused(f"{clipped_path(path)}: llama.cpp cannot load this model: {printable(reason)}; "
                               "layoutscope's byte-level commands (info, explain, compare, scan) still work on it")
        self._vocab = lib.llama_model_get_vocab(self._model)
        n_ctx_train = int(lib.llama_model_n_ctx_train(self._model))
        if ctx is None:
            ctx = min(DEFAULT_CTX, n_ctx_train) if n_ctx_train > 0 else DEFAULT_CTX
        self.facts = EngineFacts(
            n_vocab=int(lib.llama_vocab_n_tokens(self._vocab)), n_ctx_train=n_ctx_train,
            n_layer=int(lib.llama_model_n_layer(self._model)), n_embd=int(lib.llama_model_n_embd(self._model)),
            threads=int(threads or default_threads()), ctx=int(ctx),
            add_bos=bool(lib.llama_vocab_get_add_bos(self._vocab)), repack=False)
        if ctx > n_ctx_train > 0:
            self.close()
            raise ModelRefused(f"--ctx {ctx}: the model was trained with a context of {n_ctx_train} tokens; "
                               f"use --ctx {n_ctx_train} or less")
        self.bos = int(lib.llama_vocab_bos(self._vocab))
        # Kept referenced for the context's whole life: C calls them during every decode.
        self._eval_callback = lib.ggml_backend_sched_eval_callback(self._on_node)
        self._abort_callback = lib.ggml_abort_callback(self._should_abort)

    # -- set-up ----------------------------------------------------------
    def _prepare_graph_reading(self) -> None:
        from layoutscope.backend.libggml import LibggmlUnavailable, load

        try:
            base = load().base
        except (LibggmlUnavailable, OSError) as exc:
            raise EngineUnavailable(f"ggml's library cannot be loaded: {exc}") from None
        base.ggml_op_name.argtypes = [ctypes.c_int]
        base.ggml_op_name.restype = ctypes.c_char_p
        try:
            check_layout(int(base.ggml_tensor_overhead()))
        except LayoutMismatch as exc:
            raise EngineUnavailable(str(exc)) from None
        self._mul_mat = op_id(base.ggml_op_name, "MUL_MAT")

    def _ensure_context(self) -> None:
        if self._context:
            return
        lib, ctx = self._lib, self.facts.ctx
        params = lib.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = ctx  # one micro-batch per chunk: one graph, M = chunk
        params.n_seq_max = 1
        params.n_threads = params.n_threads_batch = self.facts.threads
        params.cb_eval = self._eval_callback
        params.cb_eval_user_data = None
        params.abort_callback = self._abort_callback
        params.abort_callback_data = None
        params.no_perf = True
        mark = LOG.mark()
        self._context = lib.llama_init_from_model(self._model, params)
        if not self._context:
            raise DecodeFailed(f"llama.cpp could not make a context of {ctx} tokens: "
                               f"{printable(LOG.reason(mark) or 'it logged no reason')}")
        self._batch = lib.llama_batch_init(ctx, 0, 1)
        b = self._batch
        for i in range(ctx):  # once per engine: every token of a chunk is sequence 0 and returns logits
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1

    # -- text ------------------------------------------------------------
    def tokenize(self, text: str) -> np.ndarray:
        """The text's tokens (int32), without BOS: :func:`~layoutscope.inference.text.chunks` adds it per chunk."""
        data = text.encode("utf-8")
        size = max(16, len(data) + 16)
        while True:
            out = (ctypes.c_int32 * size)()
            n = self._lib.llama_tokenize(self._vocab, data, len(data), out, size, False, False)
            if n >= 0:
                return np.frombuffer(out, dtype=np.int32, count=n).copy()
            size = -n

    def piece(self, token: int) -> str:
        """The text of one token (for reports)."""
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, int(token), buf, len(buf), 0, True)
        return buf.raw[:max(0, n)].decode("utf-8", errors="replace")

    # -- running ---------------------------------------------------------
    def decode(self, tokens: np.ndarray, observer: Optional[Observer] = None) -> np.ndarray:
        """Logits (len(tokens), n_vocab) float32 of one chunk decoded from position 0, with ``observer`` inside.

        The array is a view of llama.cpp's output buffer, valid until the next
        decode: copy what must outlive it. Raises what the observer raised,
        KeyboardInterrupt for a Ctrl-C, :class:`DecodeFailed` for llama.cpp's own failures.
        """
        tokens = np.asarray(tokens, dtype=np.int32)
        n = len(tokens)
        if not 1 <= n <= self.facts.ctx:
            raise ValueError(f"a chunk holds 1 to {self.facts.ctx} tokens, got {n}")
        with self._lock:
            self._ensure_context()
            lib, b = self._lib, self._batch
            lib.llama_memory_clear(lib.llama_get_memory(self._context), True)
            # Both arrays stay referenced until the copies are done: a temporary's buffer would be freed
            # as soon as its address is taken, and llama.cpp would read garbage positions.
            positions = np.arange(n, dtype=np.int32)
            ctypes.memmove(b.token, tokens.ctypes.data, 4 * n)
            ctypes.memmove(b.pos, positions.ctypes.data, 4 * n)
            b.n_tokens = n
            self._observer, self._failure = observer, None
            mark = LOG.mark()
            received: list = []  # (signum, the handler it had)
            try:
                with _signals_deferred(received, self._cancel):
                    status = lib.llama_decode(self._context, b)
            finally:
                self._observer = None
            for signum, handler in received[:1]:  # now the signal does what it does outside a decode
                self._cancel.clear()
                handler(signum, None)
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self._cancel.is_set():
                self._cancel.clear()
                raise KeyboardInterrupt
            if status != 0:
                raise DecodeFailed(f"llama.cpp could not decode a chunk of {n} tokens (status {status}): "
                                   f"{printable(LOG.reason(mark) or 'it logged no reason')}")
            logits = lib.llama_get_logits(self._context)
            return np.ctypeslib.as_array(logits, shape=(n, self.facts.n_vocab))

    def cancel(self) -> None:
        """Stop the decode under way (from another thread: the TUI's esc); it raises KeyboardInterrupt."""
        self._cancel.set()

    def resume(self) -> None:
        """Forget a cancel that arrived between decodes, so the next decode runs (a new job starts)."""
        self._cancel.clear()

    # -- the callbacks (called by C during llama_decode) -----------------
    def _on_node(self, address, ask, _user_data) -> bool:
        try:
            observer = self._observer
            if observer is None or self._failure is not None:
                return not ask  # observe nothing; never cancel a compute nobody watches
            node = Node(address)
            if node.op == self._mul_mat:
                weight = node.source(0).name
                if ask:
                    return weight in self._weights and observer.wants(weight)
                x = node.source(1).values(f"the input of {weight}")
                observer.matmul(weight, x, node.writable_rows(f"the output of {weight}"))
                return True
            found = _LAYER_OUTPUT.match(node.name) if observer.layers else None
            if found is None:
                return not ask
            if not ask:
                observer.layer(int(found.group(1)), node.values(node.name))
            return True
        except BaseException as exc:  # noqa: BLE001 - carried out of C and raised after the decode
            self._failure = exc
            return False

    def _should_abort(self, _data) -> bool:
        try:
            return self._failure is not None or self._cancel.is_set()
        except BaseException as exc:  # noqa: BLE001 - a Ctrl-C arriving here
            self._failure = exc
            return True

    # -- end ---------------------------------------------------------------
    def close(self) -> None:
        """Free the context, the batch and the model."""
        lib = self._lib
        if self._batch is not None:
            lib.llama_batch_free(self._batch)
            self._batch = None
        if self._context:
            lib.llama_free(self._context)
            self._context = None
        if self._model:
            lib.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
