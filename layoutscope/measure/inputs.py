"""Activation inputs X (M, K) for a comparison: random, token embeddings, or a .npy file.

``random[:SEED]``: standard normal rows. ``tokens:ID,ID,...``: rows of the
model's own token embedding, dequantized — realistic LLM activations.
``PATH.npy``: float32 (M, K) from a file.

The syntax is checked by :func:`layoutscope.measure.settings.input_spec` (the CLI does
it at parse time); what depends on the model is checked here, before anything
big is allocated: token ids inside the vocabulary, the .npy's dtype and shape
(read from its header), and the memory the request needs. Every failure is one
line naming ``--input`` (or ``--rows``) once, with the value clipped.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from layoutscope.measure import memory
from layoutscope.measure.settings import AUTO_INPUT, REAL_INPUT, input_spec, invalid, token_ids

DEFAULT_ROWS = 8


def load_input(spec: str, model, k: int, rows: int = DEFAULT_ROWS, n: Optional[int] = None,
               label: str = "--input") -> tuple[np.ndarray, str]:
    """``(X float32 (M, K), description)`` for an ``--input`` spec.

    ``n``, when known, is the weight's N: the memory check then counts the outputs too.
    ``label`` names the option or setting in messages.
    """
    spec = input_spec((spec or "random").strip(), label)
    if spec == AUTO_INPUT:
        spec = "random"  # what auto stands for where no real rows were had (the caller says why)
    if spec == REAL_INPUT or spec.lower().endswith(".npz"):
        raise invalid(label, spec, "real rows come from a model run or an activations file, which this caller "
                      "does not read; use random, tokens:… or a .npy here")
    if spec == "random" or spec.startswith("random:"):
        return _random(spec, k, rows, n)
    if spec.startswith("tokens:"):
        return _tokens(spec, model, k, n, label)
    return load_npy(spec, k, n, label)


def _random(spec: str, k: int, rows: int, n: Optional[int]) -> tuple[np.ndarray, str]:
    seed = int(spec.partition(":")[2] or "0")
    if rows < 1:
        raise invalid("--rows", rows, "need at least one row of random input")
    outputs = f" and its outputs of {rows}×{n}" if n else ""
    memory.require(memory.matmul_bytes(rows, k, n, x_bytes=12), f"--rows {rows}: random X of {rows}×{k}{outputs}",
                   "use fewer --rows")
    x = np.random.default_rng(seed).standard_normal((rows, k)).astype(np.float32)
    return x, f"random normal, seed {seed}, {rows}×{k}"


def _tokens(spec: str, model, k: int, n: Optional[int], label: str) -> tuple[np.ndarray, str]:
    ids = token_ids(spec, label)
    if "token_embd.weight" not in model:
        raise invalid(label, spec, "the model has no token_embd.weight to take rows from; use random or a .npy")
    emb = model.tensor("token_embd.weight")
    if emb.ne[0] != k:
        raise invalid(label, spec, f"token embeddings have {emb.ne[0]} values but this weight takes K = {k}; "
                      "use random or a .npy for weights that do not read the embedding width")
    bad = next((i for i in ids if i >= emb.n_rows), None)
    if bad is not None:
        raise invalid(label, spec, f"token id {bad} is outside the vocabulary (ids 0..{emb.n_rows - 1})")
    memory.require(memory.matmul_bytes(len(ids), k, n), f"{label} of {len(ids)} tokens", "give fewer token ids")
    x = np.concatenate([emb.dequantize(i) for i in ids]).astype(np.float32)
    return x, f"token embeddings of ids {ids}"


def _npy_header(path: str, label: str) -> tuple[tuple, np.dtype]:
    """``(shape, dtype)`` from a .npy header, without reading the data."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(f)
            else:  # 3.0 (utf-8 field names) has no public header reader; np.load checks it
                return (), np.dtype(np.float32)
    except FileNotFoundError:
        raise invalid(label, path, "no such file (check the path)", path=True) from None
    except IsADirectoryError:
        raise invalid(label, path, "is a directory, not a .npy file", path=True) from None
    except (OSError, ValueError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise invalid(label, path, f"cannot read it as .npy ({reason})", path=True) from None
    return shape, dtype


def load_npy(path: str, k: int, n: Optional[int] = None, label: str = "--input") -> tuple[np.ndarray, str]:
    """``(X float32 (M, K), description)`` from a .npy file, its header checked before the data is read."""
    want = f"expected float32 (M, {k}) with M ≥ 1"
    shape, dtype = _npy_header(path, label)
    if dtype != np.float32:
        raise invalid(label, path, f"dtype is {dtype}, {want} (save with x.astype(np.float32))", path=True)
    if shape:
        if len(shape) != 2 or shape[1] != k:
            raise invalid(label, path, f"shape is {shape}, {want}", path=True)
        if shape[0] < 1:
            raise invalid(label, path, f"shape is {shape}: it has no rows; {want}", path=True)
        memory.require(memory.matmul_bytes(shape[0], k, n), f"{label} of {shape[0]}×{k}", "use fewer rows")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise invalid(label, path, f"cannot read it as .npy ({exc})", path=True) from None
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != k or x.shape[0] < 1:
        raise invalid(label, path, f"shape is {x.shape} ({x.dtype}), {want}", path=True)
    return np.ascontiguousarray(x), f"{path}, {x.shape[0]}×{k}"


def load_observed(path: str, m: int, n: int, tensor: str, label: str = "--observed") -> np.ndarray:
    """An NPU backend's output Y from a .npy: real numbers (M, N), one row per row of X."""
    want = f"expected (M, N) = ({m}, {n}): one row per row of the input, one column per output channel of {tensor}"
    shape, dtype = _npy_header(path, label)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise invalid(label, path, f"dtype is {dtype}, not real numbers; {want}", path=True)
    if shape and tuple(shape) != (m, n):
        raise invalid(label, path, f"shape is {tuple(shape)}, {want}", path=True)
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise invalid(label, path, f"cannot read it as .npy ({exc})", path=True) from None
    if y.shape != (m, n):
        raise invalid(label, path, f"shape is {y.shape}, {want}", path=True)
    return y
