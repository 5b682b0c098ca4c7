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
#: The text whole-model runs read by default: public-domain English prose (Jane Austen, 1813), about 4.5 KB.
DEFAULT_TEXT = "text/pride-and-prejudice-ch1.txt"


def path(name: str = TINY_LLAMA) -> Path:
    """Path of a bundled sample; FileNotFoundError names the samples present."""
    here = Path(__file__).parent
    p = here / name
    if not p.is_file():
        present = sorted(x.relative_to(here).as_posix() for x in here.glob("**/*") if x.suffix in (".gguf", ".txt"))
        raise FileNotFoundError(2, f"no bundled sample {name!r} (have: {', '.join(present) or 'none'})", str(p))
    return p
