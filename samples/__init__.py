"""Bundled sample GGUF files (shipped in the wheel as ``layoutscope.samples``).

``path(name)`` returns the on-disk path of a sample; ``make_samples.py``
regenerates them byte for byte.
"""

from __future__ import annotations

from pathlib import Path

#: A tiny LLaMA-shaped Q8_0 model: tokenizer arrays, 4 layers, a 1000-row output head.
TINY_LLAMA = "tiny-llama-q8_0.gguf"
#: One tensor per ggml weight type ggml can quantize.
ALL_TYPES = "all-types.gguf"


def path(name: str = TINY_LLAMA) -> Path:
    """Path of a bundled sample; FileNotFoundError names the samples present."""
    p = Path(__file__).with_name(name)
    if not p.is_file():
        present = sorted(x.name for x in Path(__file__).parent.glob("*.gguf"))
        raise FileNotFoundError(2, f"no bundled sample {name!r} (have: {', '.join(present) or 'none'})", str(p))
    return p
