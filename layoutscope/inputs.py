"""Activation inputs X (M, K) for a comparison: random, token embeddings, or a .npy file.

``random[:SEED]``: standard normal rows. ``tokens:ID,ID,...``: rows of the
model's own token embedding, dequantized — realistic LLM activations.
``PATH.npy``: float32 (M, K) from a file.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import UsageError

DEFAULT_ROWS = 8


def load_input(spec: str, model, k: int, rows: int = DEFAULT_ROWS) -> tuple[np.ndarray, str]:
    """``(X float32 (M, K), description)`` for an ``--input`` spec."""
    spec = (spec or "random").strip()
    if spec == "random" or spec.startswith("random:"):
        seed_text = spec.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise UsageError(f"--input {spec!r}: the seed must be a whole number, e.g. random:42")
        if rows < 1:
            raise UsageError(f"--rows {rows}: need at least one row")
        x = np.random.default_rng(int(seed_text)).standard_normal((rows, k)).astype(np.float32)
        return x, f"random normal, seed {seed_text}, {rows}×{k}"
    if spec.startswith("tokens:"):
        return _tokens(spec, model, k)
    if spec.endswith(".npy") or os.path.exists(spec):
        return _npy(spec, k)
    raise UsageError(f"--input {spec!r}: use random[:SEED], tokens:ID,ID,... or a PATH.npy")


def _tokens(spec: str, model, k: int) -> tuple[np.ndarray, str]:
    text = spec.partition(":")[2]
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--input {spec!r}: token ids must be whole numbers, e.g. tokens:1,450,29871") from None
    if not ids:
        raise UsageError(f"--input {spec!r}: give at least one token id")
    if "token_embd.weight" not in model:
        raise UsageError(f"--input {spec!r}: the model has no token_embd.weight to take rows from")
    emb = model.tensor("token_embd.weight")
    if emb.ne[0] != k:
        raise UsageError(
            f"--input {spec!r}: token embeddings have {emb.ne[0]} values but this weight takes K = {k}; "
            "use random or a .npy for weights that do not read the embedding width"
        )
    bad = [i for i in ids if not 0 <= i < emb.n_rows]
    if bad:
        raise UsageError(f"--input {spec!r}: token id {bad[0]} is outside 0..{emb.n_rows - 1}")
    x = np.concatenate([emb.dequantize(i) for i in ids]).astype(np.float32)
    return x, f"token embeddings of ids {ids}"


def _npy(path: str, k: int) -> tuple[np.ndarray, str]:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--input {path}: cannot read it as .npy ({exc})") from None
    if x.dtype != np.float32:
        raise UsageError(f"--input {path}: dtype is {x.dtype}, expected float32 (save with x.astype(np.float32))")
    if x.ndim != 2 or x.shape[1] != k:
        raise UsageError(f"--input {path}: shape is {x.shape}, expected (M, {k})")
    return np.ascontiguousarray(x), f"{path}, {x.shape[0]}×{k}"
