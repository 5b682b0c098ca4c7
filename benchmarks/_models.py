"""Synthetic benchmark files: big-vocabulary headers and sparse 7B-shaped models.

Tensor data is left as a hole (``truncate``), so a 7 GB-shaped file costs a
few megabytes of disk and any tensor byte actually read shows up in RSS.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples"))

from ggufwrite import ARRAY, FLOAT32, INT32, STRING, UINT32, GGUFBuilder  # noqa: E402

Q8_0, F32 = 8, 0


def llama_tensors(n_layers: int, n_embd: int, n_ff: int, n_vocab: int, wtype: int = Q8_0):
    """(name, ne, type_id) of a LLaMA-2-style model in llama.cpp's order."""
    out = [("token_embd.weight", (n_embd, n_vocab), wtype)]
    for i in range(n_layers):
        p = f"blk.{i}."
        out += [
            (p + "attn_norm.weight", (n_embd,), F32),
            (p + "attn_q.weight", (n_embd, n_embd), wtype),
            (p + "attn_k.weight", (n_embd, n_embd), wtype),
            (p + "attn_v.weight", (n_embd, n_embd), wtype),
            (p + "attn_output.weight", (n_embd, n_embd), wtype),
            (p + "ffn_norm.weight", (n_embd,), F32),
            (p + "ffn_gate.weight", (n_embd, n_ff), wtype),
            (p + "ffn_up.weight", (n_embd, n_ff), wtype),
            (p + "ffn_down.weight", (n_ff, n_embd), wtype),
        ]
    out += [("output_norm.weight", (n_embd,), F32), ("output.weight", (n_embd, n_vocab), wtype)]
    return out


def _nbytes(ne, type_id: int) -> int:
    n = 1
    for x in ne:
        n *= x
    return n // 32 * 34 if type_id == Q8_0 else n * 4


def write_sparse_model(path: str, builder: GGUFBuilder, tensors) -> int:
    """Write ``builder``'s metadata plus ``tensors`` with a hole for the data; returns the file size."""
    offset = 0
    for name, ne, type_id in tensors:
        builder.add_tensor(name, ne, type_id, b"", offset=offset)
        size = _nbytes(ne, type_id)
        offset += size + (-size % builder.alignment)
    head = builder.header_bytes()
    data_start = len(head) + (-len(head) % builder.alignment)
    with open(path, "wb") as f:
        f.write(head + bytes(data_start - len(head)))
        f.truncate(data_start + offset)
    return data_start + offset


def vocab_builder(n_vocab: int, seed: int = 0) -> GGUFBuilder:
    """LLaMA metadata with an ``n_vocab``-token tokenizer (tokens, scores, token types)."""
    import random

    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = ["▁" + "".join(rnd.choice(letters) for _ in range(rnd.randint(1, 10))) + str(i) for i in range(n_vocab)]
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add("llama.block_count", UINT32, 32)
    b.add("tokenizer.ggml.model", STRING, "llama")
    b.add("tokenizer.ggml.tokens", ARRAY, tokens, STRING)
    b.add("tokenizer.ggml.scores", ARRAY, [float(-i) for i in range(n_vocab)], FLOAT32)
    b.add("tokenizer.ggml.token_type", ARRAY, [1] * n_vocab, INT32)
    return b
