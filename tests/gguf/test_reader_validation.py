"""Every way a GGUF file can be unreadable gives one GGUFError at the right byte.

Each test crafts one defective file with our builder, computes the byte
offset of the defect from the builder's own bytes (never from the reader),
and checks ``GGUFError.offset``, key words of the message, that the error
names the file and that it is a single line. Where ggml's C reader is the
reference for "this file is broken", it is asked too, so a test cannot pass
on a file that is accidentally valid or broken in a different place.
"""

from __future__ import annotations

import copy
import struct

import numpy as np
import pytest

import layoutscope
from layoutscope.gguf import GGUFError
from layoutscope.samples.ggufwrite import (ARRAY, FLOAT32, INT32, STRING, UINT8, UINT32, UINT64,
                                           GGUFBuilder)

F32, F16, Q8_0 = 0, 1, 8
Q8_0_BLOCK, Q8_0_BYTES = 32, 34
TOKENS = ["<unk>", "a", "bb", "ccc", "dddd", "▁the", "▁layout", "ünïcödé", "x" * 20, "end"]


def q8_0_rows(n_rows: int, ne0: int, seed: int = 0) -> bytes:
    """Valid Q8_0 rows: an fp16 scale then 32 int8 codes per block."""
    rng = np.random.default_rng(seed)
    n_blocks = n_rows * ne0 // Q8_0_BLOCK
    blocks = np.zeros((n_blocks, Q8_0_BYTES), np.uint8)
    blocks[:, :2] = np.full(n_blocks, 0.01, "<f2").view(np.uint8).reshape(-1, 2)
    blocks[:, 2:] = rng.integers(-127, 128, (n_blocks, 32), dtype=np.int8).view(np.uint8)
    return blocks.tobytes()


def f32_bytes(n: int, bo: str = "<", seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(bo + "f4").tobytes()


def base_builder(bo: str = "<", version: int = 3) -> GGUFBuilder:
    """A small valid model: 6 keys, 3 tensors (F32, Q8_0, F32)."""
    b = GGUFBuilder(byteorder=bo, version=version)
    b.add("general.architecture", STRING, "llama")
    b.add("general.name", STRING, "validation")
    b.add("general.quantization_version", UINT32, 2)
    b.add("llama.block_count", UINT32, 1)
    b.add("tokenizer.ggml.tokens", ARRAY, TOKENS, STRING)
    b.add("tokenizer.ggml.scores", ARRAY, [-float(i) for i in range(len(TOKENS))], FLOAT32)
    b.add_tensor("token_embd.weight", (64, 4), F32, f32_bytes(64 * 4, bo))
    b.add_tensor("blk.0.attn_q.weight", (64, 2), Q8_0, q8_0_rows(2, 64))
    b.add_tensor("output.weight", (64, 3), F32, f32_bytes(64 * 3, bo, seed=2))
    return b


def kv_offset(b: GGUFBuilder, index: int) -> int:
    """Byte offset of key/value pair ``index``: the length of everything before it."""
    head = copy.copy(b)
    head.kv, head.tensors = b.kv[:index], []
    return len(head.header_bytes())


def kv_index(b: GGUFBuilder, key: str, occurrence: int = 0) -> int:
    return [i for i, kv in enumerate(b.kv) if kv[0] == key][occurrence]


def value_offset(b: GGUFBuilder, key: str, occurrence: int = 0) -> int:
    """Byte offset of a key's value (after the key string and the u32 type)."""
    i = kv_index(b, key, occurrence)
    return kv_offset(b, i) + 8 + len(key.encode()) + 4


def info_offset(b: GGUFBuilder, index: int) -> int:
    """Byte offset of tensor-info record ``index``."""
    head = copy.copy(b)
    head.tensors = b.tensors[:index]
    return len(head.header_bytes())


def info_field_offsets(b: GGUFBuilder, index: int) -> dict:
    """Offsets of the fields of tensor-info record ``index``."""
    t = b.tensors[index]
    at = info_offset(b, index)
    fields = {"name": at, "n_dims": at + 8 + len(t.name.encode())}
    pos = fields["n_dims"] + 4
    for d in range(len(t.ne)):
        fields[f"ne{d}"] = pos
        pos += 8
    fields["type"] = pos
    fields["offset"] = pos + 4
    return fields


def patch(data: bytes, at: int, raw: bytes) -> bytes:
    return data[:at] + raw + data[at + len(raw) :]


def expect_error(tmp_path, data: bytes, offset: int, *words: str, ggml=None, name: str = "bad.gguf") -> GGUFError:
    """Open ``data`` as a file: GGUFError at ``offset`` whose message has ``words``.

    With ``ggml``, also check that ggml's C reader rejects the file.
    """
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(GGUFError) as info:
        layoutscope.open(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.offset == offset, f"expected byte {offset}: {err.line()}"
    for word in words:
        assert word.lower() in err.message.lower(), f"{word!r} not in {err.message!r}"
    text = str(err)
    assert "\n" not in text and "\r" not in text, text
    assert text == err.line()
    assert err.path == str(path)
    assert str(path) in text and f"byte {offset}" in text
    if ggml is not None:
        with pytest.raises(ValueError):
            ggml.gguf_open_close(str(path))
    return err


@pytest.fixture(params=["<", ">"], ids=["le", "be"])
def bo(request):
    return request.param


# -- the control: the base file is valid ---------------------------------------


def test_base_file_is_valid(tmp_path, bo, ggml):
    b = base_builder(bo)
    path = tmp_path / "ok.gguf"
    b.write(path)
    with layoutscope.open(path) as m:
        assert [t.name for t in m.tensors] == [t.name for t in b.tensors]
        assert m.metadata["tokenizer.ggml.tokens"][7] == "ünïcödé"
        for t in m.tensors:
            t.raw()
        if bo == "<":
            assert m.warnings == ()
        else:
            assert m.byteorder == ">" and any("big-endian" in w for w in m.warnings)
    if bo == "<":
        assert ggml.gguf_open_close(str(path)) == 3


# -- magic, version, empty -----------------------------------------------------------


@pytest.mark.parametrize("magic", [b"GGML", b"FUGG", b"ggjt", b"\x00\x00\x00\x00", b"PK\x03\x04"])
def test_bad_magic(tmp_path, magic, ggml):
    data = patch(base_builder().to_bytes(), 0, magic)
    expect_error(tmp_path, data, 0, "not a GGUF file", "magic", ggml=ggml)


def test_safetensors_file_is_not_gguf(tmp_path):
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    data = struct.pack("<Q", len(header)) + header + bytes(4)
    expect_error(tmp_path, data, 0, "not a GGUF file")


def test_gguf_v1_is_obsolete(tmp_path, bo, ggml):
    data = base_builder(bo, version=1).to_bytes()
    expect_error(tmp_path, data, 4, "obsolete", "v1", ggml=ggml if bo == "<" else None)


@pytest.mark.parametrize("bo, version", [("<", 0), ("<", 4), (">", 4), ("<", 0x7FFF), (">", 0x7FFF)])
def test_unsupported_version(tmp_path, bo, version, ggml):
    data = base_builder(bo, version=version).to_bytes()
    err = expect_error(tmp_path, data, 4, "unsupported", ggml=ggml if bo == "<" else None)
    assert str(version) in err.message


def test_empty_file(tmp_path, ggml):
    expect_error(tmp_path, b"", 0, "empty", ggml=ggml)


# -- truncation ------------------------------------------------------------------



@pytest.mark.parametrize(
    "size, offset, word",
    [
        (1, 0, "too short"),
        (3, 0, "too short"),
        (4, 4, "truncated"),
        (6, 6, "truncated"),
        (8, 8, "truncated"),  # tensor count missing
        (12, 8, "truncated"),  # tensor count cut
        (16, 16, "truncated"),  # kv count missing
        (23, 16, "truncated"),  # kv count cut
    ],
)
def test_truncated_header(tmp_path, size, offset, word, ggml):
    data = base_builder().to_bytes()[:size]
    expect_error(tmp_path, data, offset, word, ggml=ggml)


def test_truncated_magic_that_is_not_gguf(tmp_path):
    expect_error(tmp_path, b"PK\x03\x04\x00", 0, "not a GGUF file")


def test_truncated_in_key_length(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = kv_offset(b, kv_index(b, "llama.block_count"))
    data = b.to_bytes()[: at + 5]
    expect_error(tmp_path, data, at, "truncated", "metadata key", ggml=ggml if bo == "<" else None)


def test_truncated_in_key_text(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = kv_offset(b, kv_index(b, "llama.block_count"))
    data = b.to_bytes()[: at + 8 + 5]  # "llama" of "llama.block_count"
    expect_error(tmp_path, data, at, "metadata key", "rest of the file", ggml=ggml if bo == "<" else None)


def test_truncated_in_scalar_value(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = value_offset(b, "llama.block_count")
    data = b.to_bytes()[: at + 2]  # half of the UINT32
    expect_error(tmp_path, data, at, "truncated", "llama.block_count", ggml=ggml if bo == "<" else None)


def test_truncated_in_value_type(tmp_path, bo):
    b = base_builder(bo)
    at = value_offset(b, "llama.block_count") - 4
    data = b.to_bytes()[: at + 3]
    expect_error(tmp_path, data, at, "truncated", "value type", "llama.block_count")


def test_truncated_in_string_value(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = value_offset(b, "general.name")
    data = b.to_bytes()[: at + 8 + 3]  # "val" of "validation"
    expect_error(tmp_path, data, at, "general.name", "rest of the file", ggml=ggml if bo == "<" else None)


def test_truncated_in_numeric_array(tmp_path, bo, ggml):
    b = base_builder(bo)
    count_at = value_offset(b, "tokenizer.ggml.scores") + 4
    data = b.to_bytes()[: count_at + 8 + 4 * 5 + 1]  # inside the sixth float
    expect_error(tmp_path, data, count_at, "element count", "tokenizer.ggml.scores",
                 ggml=ggml if bo == "<" else None)


def _string_element_offset(b: GGUFBuilder, key: str, element: int) -> int:
    values = b.kv[kv_index(b, key)][2]
    at = value_offset(b, key) + 4 + 8
    return at + sum(8 + len(s.encode()) for s in values[:element])


def test_truncated_in_string_array_element_text(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = _string_element_offset(b, "tokenizer.ggml.tokens", 8)  # "xxxx…" (20 bytes)
    data = b.to_bytes()[: at + 8 + 7]
    expect_error(tmp_path, data, at, "string 8", "tokenizer.ggml.tokens", ggml=ggml if bo == "<" else None)


def test_truncated_in_string_array_element_length(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = _string_element_offset(b, "tokenizer.ggml.tokens", 9)
    data = b.to_bytes()[: at + 4]
    expect_error(tmp_path, data, at, "truncated", "element 9", "tokenizer.ggml.tokens",
                 ggml=ggml if bo == "<" else None)


@pytest.mark.parametrize("field, cut", [("name", 8 + 4), ("n_dims", 2), ("ne0", 0), ("ne1", 7), ("type", 1), ("offset", 5)])
def test_truncated_in_tensor_info(tmp_path, bo, field, cut, ggml):
    b = base_builder(bo)
    fields = info_field_offsets(b, 1)
    at = fields[field]
    data = b.to_bytes()[: at + cut]
    err = expect_error(tmp_path, data, at, "blk.0.attn_q" if field != "name" else "tensor name",
                       ggml=ggml if bo == "<" else None)
    if field != "name":
        assert "truncated" in err.message


def test_tensor_data_missing_its_last_byte(tmp_path, bo):
    b = base_builder(bo)
    full = b.to_bytes()
    assert len(b.tensors[-1].data) % b.alignment == 0  # no tail padding to cut first
    data = full[:-1]
    offset_field = info_field_offsets(b, 2)["offset"]
    assert offset_field == len(b.header_bytes()) - 8
    err = expect_error(tmp_path, data, offset_field, "output.weight", "outside the file")
    assert str(len(data)) in err.message
    assert "truncated" in (err.hint or "") + err.message


def test_tensor_data_section_missing(tmp_path, bo):
    b = base_builder(bo)
    data = b.to_bytes()[: len(b.header_bytes())]
    # The first tensor in data order is the first one reported.
    expect_error(tmp_path, data, info_field_offsets(b, 0)["offset"], "token_embd.weight", "outside the file")


# -- counts and lengths larger than the file --------------------------------------

HUGE = [2**63 - 1, 2**40, 2**32 + 1, 2**64 - 1, 10**6]


@pytest.mark.parametrize("value", HUGE)
def test_tensor_count_larger_than_file(tmp_path, bo, value, ggml):
    data = patch(base_builder(bo).to_bytes(), 8, struct.pack(bo + "Q", value))
    err = expect_error(tmp_path, data, 8, "tensor count", ggml=ggml if bo == "<" else None)
    assert str(value) in err.message


@pytest.mark.parametrize("value", HUGE)
def test_kv_count_larger_than_file(tmp_path, bo, value, ggml):
    data = patch(base_builder(bo).to_bytes(), 16, struct.pack(bo + "Q", value))
    err = expect_error(tmp_path, data, 16, "key/value count", ggml=ggml if bo == "<" else None)
    assert str(value) in err.message


@pytest.mark.parametrize("value", HUGE)
def test_key_length_larger_than_file(tmp_path, bo, value, ggml):
    b = base_builder(bo)
    at = kv_offset(b, 1)
    data = patch(b.to_bytes(), at, struct.pack(bo + "Q", value))
    expect_error(tmp_path, data, at, "metadata key", "larger than the rest of the file",
                 ggml=ggml if bo == "<" else None)


@pytest.mark.parametrize("value", HUGE)
def test_string_value_length_larger_than_file(tmp_path, bo, value, ggml):
    b = base_builder(bo)
    at = value_offset(b, "general.name")
    data = patch(b.to_bytes(), at, struct.pack(bo + "Q", value))
    expect_error(tmp_path, data, at, "general.name", "larger than the rest of the file",
                 ggml=ggml if bo == "<" else None)


@pytest.mark.parametrize("key", ["tokenizer.ggml.tokens", "tokenizer.ggml.scores"])
@pytest.mark.parametrize("value", HUGE)
def test_array_count_larger_than_file(tmp_path, bo, key, value, ggml):
    b = base_builder(bo)
    at = value_offset(b, key) + 4
    data = patch(b.to_bytes(), at, struct.pack(bo + "Q", value))
    err = expect_error(tmp_path, data, at, "element count", key, ggml=ggml if bo == "<" else None)
    assert str(value) in err.message


@pytest.mark.parametrize("value", [
    v for v in HUGE
])
def test_string_array_element_length_larger_than_file(tmp_path, bo, value):
    b = base_builder(bo)
    at = _string_element_offset(b, "tokenizer.ggml.tokens", 3)
    data = patch(b.to_bytes(), at, struct.pack(bo + "Q", value))
    expect_error(tmp_path, data, at, "string 3", "tokenizer.ggml.tokens")


@pytest.mark.parametrize("value", HUGE)
def test_tensor_name_length_larger_than_file(tmp_path, bo, value):
    b = base_builder(bo)
    at = info_offset(b, 2)
    data = patch(b.to_bytes(), at, struct.pack(bo + "Q", value))
    expect_error(tmp_path, data, at, "tensor name", "larger than the rest of the file")


# -- structure ----------------------------------------------------------------------


def test_nested_array(tmp_path, bo, ggml):
    b = base_builder(bo)
    b.add("test.nested", ARRAY, [(UINT8, [1, 2]), (UINT8, [3])], ARRAY)
    at = value_offset(b, "test.nested")  # the element-type field
    data = b.to_bytes()
    assert struct.unpack_from(bo + "I", data, at)[0] == ARRAY
    expect_error(tmp_path, data, at, "nested", "test.nested", ggml=ggml if bo == "<" else None)


def test_duplicate_key(tmp_path, bo, ggml):
    b = base_builder(bo)
    b.add("general.name", STRING, "again")
    at = kv_offset(b, kv_index(b, "general.name", occurrence=1))
    err = expect_error(tmp_path, b.to_bytes(), at, "duplicate", "general.name",
                       ggml=ggml if bo == "<" else None)
    assert str(kv_offset(b, kv_index(b, "general.name"))) in err.message  # where the first one is


def test_duplicate_tensor_name(tmp_path, bo, ggml):
    b = base_builder(bo)
    b.add_tensor("token_embd.weight", (64,), F32, f32_bytes(64, bo))
    at = info_offset(b, 3)
    err = expect_error(tmp_path, b.to_bytes(), at, "duplicate tensor", "token_embd.weight",
                       ggml=ggml if bo == "<" else None)
    assert str(info_offset(b, 0)) in err.message


@pytest.mark.parametrize("vtype, name", [(UINT64, "UINT64"), (INT32, "INT32")])
def test_alignment_of_wrong_type(tmp_path, bo, vtype, name, ggml):
    b = base_builder(bo)
    b.add("general.alignment", vtype, 32)
    at = kv_offset(b, kv_index(b, "general.alignment"))
    err = expect_error(tmp_path, b.to_bytes(), at, "general.alignment", "UINT32",
                       ggml=ggml if bo == "<" else None)
    assert name in err.message.replace("UINT32", "", 1)  # the type found, not the one required


@pytest.mark.parametrize("value", [0, 48, 3, 2**31 + 1])
def test_alignment_not_a_power_of_two(tmp_path, bo, value, ggml):
    b = base_builder(bo)
    b.add("general.alignment", UINT32, value)
    at = kv_offset(b, kv_index(b, "general.alignment"))
    err = expect_error(tmp_path, b.to_bytes(), at, "general.alignment", "power of two",
                       ggml=ggml if bo == "<" else None)
    assert str(value) in err.message


def test_alignment_64_is_honoured(tmp_path, bo):
    """Control for the alignment tests: a valid non-default alignment opens."""
    b = GGUFBuilder(byteorder=bo, alignment=64)
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("a", (8,), F32, f32_bytes(8, bo))
    b.add_tensor("b", (8,), F32, f32_bytes(8, bo, seed=3))
    path = tmp_path / "a64.gguf"
    b.write(path)
    with layoutscope.open(path) as m:
        assert m.alignment == 64
        assert m.data_start % 64 == 0 and m.data_start == len(b.header_bytes()) + (-len(b.header_bytes()) % 64)
        assert m.tensor("b").offset == m.data_start + 64


def test_overlapping_tensors(tmp_path, bo, ggml):
    b = GGUFBuilder(byteorder=bo)
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("first.weight", (64,), F32, f32_bytes(64, bo), offset=0)
    b.add_tensor("second.weight", (64,), F32, f32_bytes(64, bo, seed=5), offset=128)
    at = info_field_offsets(b, 1)["offset"]
    err = expect_error(tmp_path, b.to_bytes(), at, "overlaps", "second.weight", "first.weight",
                       ggml=ggml if bo == "<" else None)
    assert str(len(b.header_bytes()) + (-len(b.header_bytes()) % 32) + 256) in err.message  # first's end


def test_tensor_overlapping_an_earlier_one_listed_later(tmp_path, bo):
    """The tensor starting later in the data is the one reported, whatever the info order."""
    b = GGUFBuilder(byteorder=bo)
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("late.weight", (64,), F32, f32_bytes(64, bo), offset=64)
    b.add_tensor("early.weight", (64,), F32, f32_bytes(64, bo, seed=5), offset=0)
    at = info_field_offsets(b, 0)["offset"]
    expect_error(tmp_path, b.to_bytes(), at, "overlaps", "late.weight", "early.weight")


@pytest.mark.parametrize("offset", [16, 33, 100])
def test_misaligned_data_offset(tmp_path, bo, offset, ggml):
    b = GGUFBuilder(byteorder=bo)
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("small.weight", (4,), F32, f32_bytes(4, bo), offset=0)
    b.add_tensor("odd.weight", (4,), F32, f32_bytes(4, bo, seed=7), offset=offset)
    at = info_field_offsets(b, 1)["offset"]
    err = expect_error(tmp_path, b.to_bytes(), at, "odd.weight", "alignment 32",
                       ggml=ggml if bo == "<" else None)
    assert str(offset) in err.message


@pytest.mark.parametrize("ne0", [48, 16, 33])
def test_ne0_not_a_multiple_of_the_block_size(tmp_path, bo, ne0, ggml):
    b = base_builder(bo)
    b.add_tensor("blk.0.ffn_down.weight", (ne0, 2), Q8_0, bytes(Q8_0_BYTES * 4))
    at = info_offset(b, 3)
    err = expect_error(tmp_path, b.to_bytes(), at, "blk.0.ffn_down.weight", "Q8_0", "block size 32",
                       ggml=ggml if bo == "<" else None)
    assert f"ne[0] = {ne0}" in err.message


def test_more_than_four_dimensions(tmp_path, bo, ggml):
    b = base_builder(bo)
    b.add_tensor("five.dims", (2, 2, 2, 2, 2), F32, f32_bytes(32, bo))
    at = info_field_offsets(b, 3)["n_dims"]
    expect_error(tmp_path, b.to_bytes(), at, "five.dims", "5 dimensions", "at most 4",
                 ggml=ggml if bo == "<" else None)


@pytest.mark.parametrize("dim", [0, 1])
def test_negative_ne(tmp_path, bo, dim, ggml):
    b = base_builder(bo)
    ne = [64, 2]
    ne[dim] = 2**64 - 3  # -3 as int64
    b.add_tensor("neg.weight", ne, F32, f32_bytes(128, bo))
    at = info_field_offsets(b, 3)[f"ne{dim}"]
    expect_error(tmp_path, b.to_bytes(), at, "neg.weight", f"negative ne[{dim}]", "-3",
                 ggml=ggml if bo == "<" else None)


@pytest.mark.parametrize("vtype", [13, 255, 2**31])
def test_unknown_value_type(tmp_path, bo, vtype, ggml):
    b = base_builder(bo)
    at = value_offset(b, "llama.block_count") - 4
    data = b.to_bytes()
    assert struct.unpack_from(bo + "I", data, at)[0] == UINT32
    data = patch(data, at, struct.pack(bo + "I", vtype))
    err = expect_error(tmp_path, data, at, "unknown metadata value type", "llama.block_count",
                       ggml=ggml if bo == "<" else None)
    assert str(vtype) in err.message


def test_unknown_array_element_type(tmp_path, bo, ggml):
    b = base_builder(bo)
    at = value_offset(b, "tokenizer.ggml.scores")  # element type of the array
    data = b.to_bytes()
    assert struct.unpack_from(bo + "I", data, at)[0] == FLOAT32
    data = patch(data, at, struct.pack(bo + "I", 13))
    expect_error(tmp_path, data, at, "unknown metadata value type 13", "tokenizer.ggml.scores",
                 ggml=ggml if bo == "<" else None)


def test_error_is_a_value_error_with_one_line_and_no_hidden_cause(tmp_path):
    """Scripts catch ValueError; the CLI prints str(err) as one line."""
    data = patch(base_builder().to_bytes(), 8, struct.pack("<Q", 2**63 - 1))
    err = expect_error(tmp_path, data, 8, "tensor count")
    assert isinstance(err, ValueError)
    assert err.__cause__ is None
    assert len(err.line()) < 400
