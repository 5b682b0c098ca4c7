"""The text a whole-model run reads, and how its tokens are cut into chunks and scored.

The default is the bundled public-domain prose (``samples/text/``); ``-``
reads standard input. The tokens are cut into chunks of at most ``ctx``
tokens; when the model wants a BOS token, each chunk starts with one and
holds ``ctx - 1`` text tokens, so every text token is read exactly once.
In a chunk of n tokens, the logits at position i predict token i + 1:
positions 0..n-2 are scorable. ``all`` scores them all (layoutscope's
default); ``second-half`` scores only those with at least n/2 tokens of
context before them, as llama.cpp's ``llama-perplexity`` does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np

from layoutscope.errors import UsageError, clipped_path

#: How positions are scored: every one, or llama-perplexity's second half of each chunk.
SCORING = ("all", "second-half")
#: What ``--text`` means when it is not given.
DEFAULT_TEXT_LABEL = "the bundled text (Pride and Prejudice, chapter 1)"


def read_text(source: Optional[str]) -> tuple[str, str]:
    """``(text, label)`` for ``--text``: None (the bundled text), ``-`` (stdin) or a path; UsageError when empty."""
    if source is None:
        from layoutscope import samples

        return samples.path(samples.DEFAULT_TEXT).read_text(encoding="utf-8"), DEFAULT_TEXT_LABEL
    if source == "-":
        text, label = sys.stdin.read(), "standard input"
    else:
        try:
            with open(source, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"--text {clipped_path(source)}: cannot read it ({exc.strerror or exc}); "
                             "give a UTF-8 text file, or - for standard input") from None
        label = clipped_path(source)
    if not text.strip():
        raise UsageError(f"--text {label}: the text is empty; give some prose to run the model on")
    return text, label


@dataclass(frozen=True)
class Chunk:
    """One chunk's tokens (BOS included when the model wants one) and the positions scored in it."""

    index: int
    tokens: np.ndarray
    scored: np.ndarray  # positions whose logits are scored against the next token

    @property
    def targets(self) -> np.ndarray:
        """The token each scored position predicts."""
        return self.tokens[self.scored + 1]


def chunks(tokens: np.ndarray, ctx: int, bos: Optional[int], limit: Optional[int] = None,
           scoring: str = "all") -> list[Chunk]:
    """The text's tokens in chunks of at most ``ctx`` (``bos`` first when given), at most ``limit`` of them.

    A chunk needs two tokens to score anything; a shorter tail is dropped.
    UsageError when the text has too few tokens for one chunk.
    """
    if scoring not in SCORING:
        raise UsageError(f"--score {scoring!r}: choose {' or '.join(SCORING)}")
    per_chunk = ctx - 1 if bos is not None else ctx
    if per_chunk < 1:
        raise UsageError(f"--ctx {ctx}: a chunk needs room for at least one text token after BOS; use --ctx 2 or more")
    out = []
    for start in range(0, len(tokens), per_chunk):  # one step per chunk, not per token
        body = np.asarray(tokens[start:start + per_chunk], dtype=np.int32)
        chunk = np.concatenate([[bos], body]).astype(np.int32) if bos is not None else body
        n = len(chunk)
        if n < 2:
            break
        first = n // 2 if scoring == "second-half" else 0
        out.append(Chunk(len(out), chunk, np.arange(first, n - 1)))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise UsageError(f"the text has {len(tokens)} token(s): too few to score one position; give a longer text")
    return out
