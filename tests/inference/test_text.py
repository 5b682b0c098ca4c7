"""The text a run reads and its chunks: every token read once, BOS first, the positions scored, the refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest

from layoutscope.errors import UsageError
from layoutscope.inference.text import DEFAULT_TEXT_LABEL, chunks, read_text

TOKENS = np.arange(100, 137, dtype=np.int32)  # 37 distinct "text tokens"
BOS = 1


@pytest.mark.parametrize("ctx", [2, 3, 8, 10, 36, 37, 38, 64])
@pytest.mark.parametrize("bos", [BOS, None], ids=["bos", "no-bos"])
def test_every_text_token_is_read_exactly_once(ctx, bos):
    cut = chunks(TOKENS, ctx, bos)
    body = [c.tokens[1:] if bos is not None else c.tokens for c in cut]
    read = np.concatenate(body)
    # Only a one-token tail without BOS (nothing to score) may be dropped.
    assert np.array_equal(read, TOKENS[:len(read)])
    assert len(TOKENS) - len(read) <= (0 if bos is not None else 1)
    assert [c.index for c in cut] == list(range(len(cut)))
    assert all(2 <= len(c.tokens) <= ctx for c in cut)
    if bos is not None:
        assert all(c.tokens[0] == BOS for c in cut)
        assert not np.isin(BOS, read)


@pytest.mark.parametrize("n", [2, 3, 9, 10, 33])
def test_scored_positions_all_and_second_half(n):
    tokens = TOKENS[:n - 1]
    everything = chunks(tokens, n, BOS)[0]
    assert len(everything.tokens) == n
    assert np.array_equal(everything.scored, np.arange(0, n - 1))
    # Each scored position predicts the next token of the chunk.
    assert np.array_equal(everything.targets, everything.tokens[1:])
    half = chunks(tokens, n, BOS, scoring="second-half")[0]
    assert np.array_equal(half.scored, np.arange(n // 2, n - 1))
    assert np.array_equal(half.targets, half.tokens[n // 2 + 1:])


def test_chunks_limit_keeps_the_first_ones():
    whole = chunks(TOKENS, 8, BOS)
    for limit in (1, 2, len(whole), len(whole) + 5):
        cut = chunks(TOKENS, 8, BOS, limit=limit)
        assert len(cut) == min(limit, len(whole))
        assert all(np.array_equal(a.tokens, b.tokens) for a, b in zip(cut, whole))


def test_a_one_token_tail_is_dropped_a_two_token_tail_is_kept():
    # With BOS, 7 text tokens per chunk of 8: 15 tokens leave a tail of 1 (BOS + 1 = 2 tokens, scored once).
    cut = chunks(TOKENS[:15], 8, BOS)
    assert [len(c.tokens) for c in cut] == [8, 8, 2]
    # Without BOS, a one-token tail scores nothing and is dropped.
    cut = chunks(TOKENS[:17], 8, None)
    assert [len(c.tokens) for c in cut] == [8, 8]


@pytest.mark.parametrize("tokens,bos", [(TOKENS[:0], BOS), (TOKENS[:0], None), (TOKENS[:1], None)])
def test_too_short_text_is_refused(tokens, bos):
    with pytest.raises(UsageError, match="too few to score"):
        chunks(tokens, 8, bos)


def test_ctx_without_room_after_bos_and_unknown_scoring_are_refused():
    with pytest.raises(UsageError, match="--ctx 1"):
        chunks(TOKENS, 1, BOS)
    with pytest.raises(UsageError, match="--score"):
        chunks(TOKENS, 8, BOS, scoring="first-half")


def test_read_text_default_is_the_bundled_prose():
    text, label = read_text(None)
    assert label == DEFAULT_TEXT_LABEL
    assert text.startswith("It is a truth universally acknowledged")


def test_read_text_from_a_file_and_stdin(tmp_path, monkeypatch):
    f = tmp_path / "t.txt"
    f.write_text("Some prose, é.\n", encoding="utf-8")
    assert read_text(str(f)) == ("Some prose, é.\n", str(f))
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin"))
    assert read_text("-") == ("from stdin", "standard input")


@pytest.mark.parametrize("content", ["", "  \n\t\n"], ids=["empty", "blank"])
def test_empty_text_is_refused(tmp_path, monkeypatch, content):
    f = tmp_path / "empty.txt"
    f.write_text(content)
    with pytest.raises(UsageError, match="the text is empty"):
        read_text(str(f))
    monkeypatch.setattr("sys.stdin", io.StringIO(content))
    with pytest.raises(UsageError, match="the text is empty"):
        read_text("-")


def test_unreadable_text_is_refused(tmp_path):
    with pytest.raises(UsageError, match="cannot read it"):
        read_text(str(tmp_path / "missing.txt"))
    with pytest.raises(UsageError, match="cannot read it"):
        read_text(str(tmp_path))  # a directory


def test_bundled_text_chunks_on_the_tiny_model(engine, text_tokens):
    ctx = engine.facts.ctx
    cut = chunks(text_tokens, ctx, engine.bos)
    assert engine.facts.add_bos and cut[0].tokens[0] == engine.bos
    assert sum(len(c.tokens) - 1 for c in cut) == len(text_tokens)
    assert np.array_equal(np.concatenate([c.tokens[1:] for c in cut]), text_tokens)
