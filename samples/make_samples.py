"""Regenerate the bundled sample GGUF files, byte for byte.

    python samples/make_samples.py            # write into samples/
    python samples/make_samples.py --check    # verify the committed files

Deterministic: fixed seeds, a tokenizer trained by a tiny BPE on a fixed
text, and ggml's own quantizers (llama-cpp-python's ggml) for every quantized type.
Files written:

* ``tiny-llama-q8_0.gguf``: LLaMA-shaped, 4 layers, Q8_0 matrices, F32
  norms, a 1000-token vocabulary (so the output head has N = 1000, not a
  multiple of 32), and a few outlier rows that per-tensor int8 handles badly.
* ``all-types.gguf``: one [512, 48] tensor per ggml weight type.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile

import numpy as np

try:  # run as a script from a checkout, or imported from the installed package
    from layoutscope.samples.ggufwrite import (ARRAY, BOOL, FLOAT32, INT32, STRING, UINT32,
                                               GGUFBuilder)
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ggufwrite import ARRAY, BOOL, FLOAT32, INT32, STRING, UINT32, GGUFBuilder  # type: ignore

TINY_LLAMA = "tiny-llama-q8_0.gguf"
ALL_TYPES = "all-types.gguf"

N_VOCAB = 1000
N_EMBD = 256
N_FF = 704
N_LAYERS = 4
N_HEAD = 4
N_HEAD_KV = 2
Q8_0, F32_ID = 8, 0

# The BPE corpus: our own words about the problem the tool solves.
CORPUS = """
When you port a llama model to a neural processing unit, a wrong tensor layout gives no error,
only gibberish. The weights are stored in blocks: every thirty two values share a scale, so a row
of int8 codes is longer than it looks. The NPU wants plain int8 codes in its own tiled native
layout, so the weights are dequantized, requantized and packed, and each step can go wrong in
silence. Ten layers on the NPU are fine, all of them give gibberish. The debugger opens the model,
steps through the layers, explains every byte of every tensor, shows the dequantized values next to
the requantized ones, runs one matrix multiplication on both sides and compares the results. It
finds the layers that mismatch and exports the evidence for the people who build the next backend.
The quick brown fox jumps over the lazy dog while the tokenizer learns to merge the most frequent
pairs of symbols into longer and longer pieces of words and numbers such as 1024 4096 and 11008.
"""


def train_bpe_vocab(text: str, size: int) -> list[str]:
    """SentencePiece-style pieces (``▁word``) learned by byte-pair merges of ``text``."""
    words = collections.Counter("▁" + w for w in text.split())
    splits = {w: list(w) for w in words}
    vocab: list[str] = []
    for w in sorted(splits):
        for ch in splits[w]:
            if ch not in vocab:
                vocab.append(ch)
    while len(vocab) < size:
        pairs: collections.Counter = collections.Counter()
        for w, n in words.items():
            s = splits[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merged = best[0] + best[1]
        vocab.append(merged)
        for w, s in splits.items():
            i, out = 0, []
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            splits[w] = out
    return vocab


def tokenizer_arrays() -> tuple[list[str], list[float], list[int]]:
    """tokens, scores and token types for a ``llama`` (SentencePiece) tokenizer."""
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    pieces = train_bpe_vocab(CORPUS, N_VOCAB - len(specials) - len(byte_tokens))
    filler = [f"▁tok{i}" for i in range(N_VOCAB - len(specials) - len(byte_tokens) - len(pieces))]
    tokens = specials + byte_tokens + pieces + filler
    scores = [0.0] * (len(specials) + len(byte_tokens)) + [-float(i) for i in range(len(pieces) + len(filler))]
    # llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte.
    types = [2, 3, 3] + [6] * 256 + [1] * (len(pieces) + len(filler))
    assert len(tokens) == N_VOCAB and len(set(tokens)) == N_VOCAB
    return tokens, scores, types


def _weights(rng: np.random.Generator, n: int, k: int, outlier_rows: int = 2) -> np.ndarray:
    w = rng.standard_normal((n, k)).astype(np.float32) * np.float32(0.02)
    rows = rng.choice(n, outlier_rows, replace=False)
    w[rows] *= np.float32(6.0)
    return w


def build_tiny_llama() -> GGUFBuilder:
    """The tiny LLaMA-shaped Q8_0 model."""
    from layoutscope.backend.libggml import load

    ggml = load()
    rng = np.random.default_rng(20261123)
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add("general.name", STRING, "layoutscope tiny llama (random weights)")
    b.add("general.file_type", UINT32, 7)
    b.add("general.quantization_version", UINT32, 2)
    b.add("llama.vocab_size", UINT32, N_VOCAB)
    b.add("llama.context_length", UINT32, 256)
    b.add("llama.embedding_length", UINT32, N_EMBD)
    b.add("llama.block_count", UINT32, N_LAYERS)
    b.add("llama.feed_forward_length", UINT32, N_FF)
    b.add("llama.rope.dimension_count", UINT32, N_EMBD // N_HEAD)
    b.add("llama.attention.head_count", UINT32, N_HEAD)
    b.add("llama.attention.head_count_kv", UINT32, N_HEAD_KV)
    b.add("llama.attention.layer_norm_rms_epsilon", FLOAT32, 1e-5)
    b.add("llama.rope.freq_base", FLOAT32, 10000.0)
    tokens, scores, types = tokenizer_arrays()
    b.add("tokenizer.ggml.model", STRING, "llama")
    b.add("tokenizer.ggml.tokens", ARRAY, tokens, STRING)
    b.add("tokenizer.ggml.scores", ARRAY, scores, FLOAT32)
    b.add("tokenizer.ggml.token_type", ARRAY, types, INT32)
    b.add("tokenizer.ggml.bos_token_id", UINT32, 1)
    b.add("tokenizer.ggml.eos_token_id", UINT32, 2)
    b.add("tokenizer.ggml.unknown_token_id", UINT32, 0)
    b.add("tokenizer.ggml.add_bos_token", BOOL, True)

    def q8(name: str, n: int, k: int, w: np.ndarray | None = None) -> None:
        w = _weights(rng, n, k) if w is None else w
        b.add_tensor(name, (k, n), Q8_0, ggml.quantize(Q8_0, w).tobytes())

    def norm(name: str) -> None:
        v = (1.0 + 0.1 * rng.standard_normal(N_EMBD)).astype("<f4")
        b.add_tensor(name, (N_EMBD,), F32_ID, v.tobytes())

    kv = N_EMBD // N_HEAD * N_HEAD_KV
    q8("token_embd.weight", N_VOCAB, N_EMBD)
    for layer in range(N_LAYERS):
        p = f"blk.{layer}."
        norm(p + "attn_norm.weight")
        q8(p + "attn_q.weight", N_EMBD, N_EMBD)
        q8(p + "attn_k.weight", kv, N_EMBD)
        q8(p + "attn_v.weight", kv, N_EMBD)
        q8(p + "attn_output.weight", N_EMBD, N_EMBD)
        norm(p + "ffn_norm.weight")
        q8(p + "ffn_gate.weight", N_FF, N_EMBD)
        q8(p + "ffn_up.weight", N_FF, N_EMBD)
        down = _weights(rng, N_EMBD, N_FF)
        if layer == N_LAYERS - 1:
            # One huge weight: per-tensor int8 scales collapse the rest of the matrix.
            down[7, 100] = np.float32(40.0 * np.abs(down).max())
        q8(p + "ffn_down.weight", N_EMBD, N_FF, down)
    norm("output_norm.weight")
    q8("output.weight", N_VOCAB, N_EMBD)
    return b


def all_types_rows() -> np.ndarray:
    """The float values every all-types tensor is made from (48 rows of 512)."""
    rng = np.random.default_rng(42)
    return (rng.standard_normal((48, 512)) * 0.02).astype(np.float32)


def all_types_payload(type_id: int, values: np.ndarray) -> bytes:
    """Raw bytes of ``values`` stored as ``type_id`` (ggml's quantizers where needed)."""
    from layoutscope.backend.libggml import load

    plain = {0: "<f4", 1: "<f2", 28: "<f8"}
    if type_id in plain:
        return values.astype(plain[type_id]).tobytes()
    ints = {24: "i1", 25: "<i2", 26: "<i4", 27: "<i8"}
    if type_id in ints:
        return np.round(values * 5000).astype(ints[type_id]).tobytes()
    ggml = load()
    imatrix = np.ones(values.shape[1], np.float32) if ggml.traits(type_id).requires_imatrix else None
    return ggml.quantize(type_id, values, imatrix).tobytes()


def build_all_types(exclude: tuple[str, ...] = ()) -> GGUFBuilder:
    """One tensor per ggml weight type (removed and activation-only types left out)."""
    from layoutscope.formats import all_types

    values = all_types_rows()
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "all-types")
    b.add("general.name", STRING, "one tensor per ggml weight type")
    b.add("general.quantization_version", UINT32, 2)
    for t in all_types():
        if t.removed or not t.is_weight_type or t.name in exclude:
            continue
        b.add_tensor(f"{t.name.lower()}.weight", (values.shape[1], values.shape[0]), t.id,
                     all_types_payload(t.id, values))
    return b


BUILDERS = {TINY_LLAMA: build_tiny_llama, ALL_TYPES: build_all_types}


def main(argv=None) -> int:
    """Write (or with --check, verify) every sample."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = parser.parse_args(argv)
    status = 0
    for name, build in BUILDERS.items():
        data = build().to_bytes()
        target = os.path.join(args.out, name)
        if args.check:
            same = os.path.exists(target) and open(target, "rb").read() == data
            print(f"{name}: {'identical' if same else 'DIFFERS'} ({len(data)} bytes)")
            status |= 0 if same else 1
            continue
        fd, tmp = tempfile.mkstemp(dir=args.out, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; samples are meant to be shared
        os.replace(tmp, target)
        print(f"wrote {target} ({len(data)} bytes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
