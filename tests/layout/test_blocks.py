"""Layout explanations: stride arithmetic, element location, the plain-int8 trap."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import layoutscope
from layoutscope.formats import ggml_type
from layoutscope.layout.blocks import byte_owner, explain
from layoutscope.samples import ALL_TYPES, path as sample_path
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder


def _sparse_q8_0(tmp_path, ne0: int, ne1: int, rows: dict[int, bytes]) -> str:
    """A Q8_0 [ne0, ne1] tensor whose data is a hole except for the given rows."""
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    row_bytes = ne0 // 32 * 34
    b.add_tensor("blk.0.ffn_down.weight", (ne0, ne1), 8, b"", offset=0)
    head = b.header_bytes()
    start = len(head) + (-len(head) % 32)
    p = tmp_path / "q8.gguf"
    with open(p, "wb") as f:
        f.write(head + bytes(start - len(head)))
        f.truncate(start + row_bytes * ne1)
        for r, data in rows.items():
            f.seek(start + r * row_bytes)
            f.write(data)
    return str(p)


def _q8_0_block(d: float, qs) -> bytes:
    return struct.pack("<e", d) + bytes(np.asarray(qs, dtype=np.int8).tobytes())


def test_llama2_7b_ffn_down_strides(tmp_path):
    path = _sparse_q8_0(tmp_path, 11008, 4096, {})
    with layoutscope.open(path) as m:
        e = explain(m.tensor("blk.0.ffn_down.weight"))
    assert e.nb == (34, 11696)
    nb0, nb1 = e.strides
    assert nb0.arithmetic == "34 B = d (2 B) + qs (32 B)"
    assert nb1.arithmetic == "34 × 11008/32 = 34 × 344 = 11696 B"
    assert "11696" in str(e)


def test_element_location_and_worked_value(tmp_path):
    # Row 3 holds a block at col 96..127 with d = 0.5 and qs = -16..15.
    row = bytearray(11008 // 32 * 34)
    row[3 * 34 : 4 * 34] = _q8_0_block(0.5, range(-16, 16))
    path = _sparse_q8_0(tmp_path, 11008, 8, {3: bytes(row)})
    with layoutscope.open(path) as m:
        t = m.tensor("blk.0.ffn_down.weight")
        e = explain(t, row=3, col=100)
    loc = e.element
    assert (loc.block_in_row, loc.element_in_block) == (3, 4)
    assert loc.block_offset == t.offset + 3 * 11696 + 3 * 34
    assert loc.quant_file_bytes == (loc.block_offset + 2 + 4,)
    assert loc.dequantized == 0.5 * (4 - 16) and loc.matches
    names = [term.name for term in loc.anatomy.terms]
    assert "d" in names and "q" in names
    assert "-6" in loc.anatomy.worked


def test_plain_int8_trap_shows_scale_bytes_as_values(tmp_path):
    row = bytearray(64 // 32 * 34)
    row[0:34] = _q8_0_block(1.0, range(32))
    row[34:68] = _q8_0_block(2.0, range(32, 64))
    path = _sparse_q8_0(tmp_path, 64, 1, {0: bytes(row)})
    with layoutscope.open(path) as m:
        trap = explain(m.tensor("blk.0.ffn_down.weight"), 0, 0).trap
    assert trap.cols[:4] == (0, 1, 2, 3)
    d_bytes = struct.pack("<e", 1.0)
    assert trap.naive[:2] == tuple(np.frombuffer(d_bytes, np.int8))  # the scale read as two values
    assert trap.naive[2] == 0  # element 2 reads qs[0]: shifted by 2
    assert trap.true_values[:4] == (0.0, 1.0, 2.0, 3.0)
    assert (trap.owners[0].field, trap.owners[2].field, trap.owners[2].byte_in_field) == ("d", "qs", 0)
    assert "d" in trap.summary and "2 more bytes" in trap.summary


def test_byte_owner_across_blocks():
    t = ggml_type("Q8_0")
    assert byte_owner(t, 34).block == 1 and byte_owner(t, 34).field == "d"
    assert byte_owner(t, 36 + 31).field == "qs" and byte_owner(t, 36 + 31).byte_in_field == 31


@pytest.fixture(scope="module")
def all_types_model():
    with layoutscope.open(sample_path(ALL_TYPES)) as m:
        yield m


def test_every_sample_type_explains_and_matches(all_types_model):
    for t in all_types_model.tensors:
        for row, col in ((0, 0), (47, 511), (13, 257)):
            e = explain(t, row, col)
            assert e.element is not None and e.element.matches, f"{t.name} at {row},{col}"
            text = str(e)
            assert t.name in text and "strides:" in text
            json.dumps(e.to_dict())


def test_out_of_range_element(all_types_model):
    t = all_types_model.tensor("q8_0.weight")
    with pytest.raises(IndexError, match="row 48"):
        explain(t, 48, 0)
    with pytest.raises(IndexError, match="col 512"):
        explain(t, 0, 512)


def test_unknown_type_is_explained_without_values(tmp_path):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "x")
    b.add_tensor("fork.weight", (64, 2), 200, bytes(range(96)))
    p = tmp_path / "fork.gguf"
    b.write(p)
    with layoutscope.open(p) as m:
        e = explain(m.tensor("fork.weight"))
    assert e.type == "unknown(200)" and e.element is None
    assert any("200" in n for n in e.notes) and any("raw bytes" in n for n in e.notes)


def test_trap_for_4_bit_rows_reads_into_the_next_row(all_types_model):
    t = all_types_model.tensor("q4_k.weight")  # 512 elements in 288 bytes per row
    trap = explain(t, 5, 500).trap
    assert "only 288 bytes" in trap.summary and "next row" in trap.summary
    next_row = t.raw(6)[0]
    for c, naive, owner in zip(trap.cols, trap.naive, trap.owners):
        assert owner.rows_ahead == 1
        assert naive == int(next_row[c - 288:c - 287].view(np.int8)[0])
        assert owner.block == (c - 288) // 144


def test_trap_table_is_never_empty_on_the_last_row(all_types_model):
    # A naive reader of the last row of a sub-byte type runs past the tensor's data: the table
    # shows what it reads there (padding or the next tensor's bytes) instead of going empty.
    for t in all_types_model.tensors:
        if not (t.type.is_quantized and t.type.can_dequantize):
            continue
        last = t.n_rows - 1
        trap = explain(t, last, t.ne[0] - 1).trap
        assert len(trap.cols) == 8 and trap.cols[-1] == t.ne[0] - 1, t.name
        text = str(explain(t, last, t.ne[0] - 1))
        assert "     col  as int8" in text and f"{t.ne[0] - 1:>8}" in text
        if t.row_bytes < t.ne[0]:
            beyond = [(c, n, o) for c, n, o in zip(trap.cols, trap.naive, trap.owners) if o.past_end is not None]
            assert beyond and "past the tensor's end" in trap.summary, t.name
            following = t.following_bytes(t.ne[0])
            for c, naive, owner in beyond:
                assert owner.past_end == c - t.row_bytes
                if owner.past_end >= following.size:  # the file ends first
                    assert owner.file_byte is None and naive is None and "end of the file" in owner.describe()
                    continue
                assert owner.file_byte == t.end + owner.past_end
                assert naive == int(following[owner.past_end:owner.past_end + 1].view(np.int8)[0])
                assert "past the tensor's end" in owner.describe()


def test_trap_past_the_end_of_the_file(tmp_path):
    # The last tensor of a file: bytes past its end do not exist, and the table says so.
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "x")
    b.add_tensor("q4.weight", (512, 1), 2, bytes(288))  # Q4_0: 512 elements in 288 bytes, no padding after
    p = tmp_path / "q4.gguf"
    b.write(p)
    with layoutscope.open(p) as m:
        t = m.tensor("q4.weight")
        assert t.end == p.stat().st_size
        trap = explain(t, 0, 511).trap
        assert trap.naive[-1] is None and "end of the file" in trap.owners[-1].describe()
        assert "end of the file" in str(explain(t, 0, 511))
