"""Reading behaviour users rely on: values, lazy arrays, byte orders, splits, odd types.

Files are built with our builder (explicit value types, any type id) or with
gguf-py's GGUFWriter, the writer llama.cpp's convert scripts use.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct

import gguf
import numpy as np
import pytest

import layoutscope
from layoutscope.gguf import GGUFError, MetadataArray, ValueType
from layoutscope.samples.ggufwrite import (ARRAY, BOOL, FLOAT32, FLOAT64, INT8, INT16, INT32, INT64,
                                           STRING, UINT8, UINT16, UINT32, UINT64, GGUFBuilder)

F32, F16, Q8_0, Q4_0_4_4, Q2_0 = 0, 1, 8, 31, 42


def f32(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.5).astype(np.float32)


def write(tmp_path, b: GGUFBuilder, name: str = "m.gguf"):
    path = tmp_path / name
    b.write(path)
    return path


def as_f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


# -- metadata values --------------------------------------------------------------

SCALARS = [
    ("t.uint8", UINT8, 255),
    ("t.int8", INT8, -128),
    ("t.uint16", UINT16, 65535),
    ("t.int16", INT16, -32768),
    ("t.uint32", UINT32, 2**32 - 1),
    ("t.int32", INT32, -(2**31)),
    ("t.float32", FLOAT32, 3.14159),
    ("t.bool_true", BOOL, True),
    ("t.bool_false", BOOL, False),
    ("t.string", STRING, "héllo ▁wörld 日本語 🦙"),
    ("t.empty_string", STRING, ""),
    ("t.uint64", UINT64, 2**64 - 1),
    ("t.int64", INT64, -(2**63)),
    ("t.float64", FLOAT64, 2.718281828459045),
]

ARRAYS = [
    ("a.uint8", UINT8, [0, 1, 128, 255]),
    ("a.int8", INT8, [-128, -1, 0, 127]),
    ("a.uint16", UINT16, [0, 65535, 1234]),
    ("a.int16", INT16, [-32768, 32767, -5]),
    ("a.uint32", UINT32, [0, 2**32 - 1, 7]),
    ("a.int32", INT32, [-(2**31), 2**31 - 1, 0]),
    ("a.float32", FLOAT32, [0.1, -2.5, 1e-5, float("inf")]),
    ("a.bool", BOOL, [True, False, True, True]),
    ("a.string", STRING, ["<s>", "▁the", "ünïcödé", "", "日本", "🦙"]),
    ("a.uint64", UINT64, [0, 2**64 - 1, 2**40]),
    ("a.int64", INT64, [-(2**63), 2**63 - 1, -1]),
    ("a.float64", FLOAT64, [1e300, -0.0, 2.5]),
    ("a.empty", INT32, []),
]

NUMPY_DTYPE = {UINT8: "u1", INT8: "i1", UINT16: "u2", INT16: "i2", UINT32: "u4", INT32: "i4",
               FLOAT32: "f4", UINT64: "u8", INT64: "i8", FLOAT64: "f8"}


def values_builder(bo: str = "<", version: int = 3) -> GGUFBuilder:
    b = GGUFBuilder(byteorder=bo, version=version)
    b.add("general.architecture", STRING, "llama")
    for key, vtype, value in SCALARS:
        b.add(key, vtype, value)
    for key, etype, values in ARRAYS:
        b.add(key, ARRAY, values, etype)
    b.add_tensor("t.weight", (8, 2), F32, f32(16).astype(bo + "f4").tobytes())
    return b


def check_values(m) -> None:
    for key, vtype, value in SCALARS:
        got = m.metadata[key]
        assert m.entries[key].type == ValueType(vtype), key
        expected = as_f32(value) if vtype == FLOAT32 else value
        assert got == expected and type(got) is type(expected), (key, got)
    for key, etype, values in ARRAYS:
        arr = m.metadata[key]
        entry = m.entries[key]
        assert entry.type == ValueType.ARRAY and entry.element_type == ValueType(etype), key
        assert entry.type_name == f"ARRAY[{ValueType(etype).name}]"
        assert isinstance(arr, MetadataArray) and len(arr) == len(values)
        expected = [as_f32(v) for v in values] if etype == FLOAT32 else values
        assert list(arr) == expected, key
        assert [type(v) for v in arr] == [type(v) for v in expected], key
        if etype in NUMPY_DTYPE:
            np_values = arr.to_numpy()
            assert np_values.dtype.kind == np.dtype(NUMPY_DTYPE[etype]).kind
            assert np_values.dtype.itemsize == np.dtype(NUMPY_DTYPE[etype]).itemsize
            assert np_values.tolist() == expected, key
        elif etype == BOOL:
            assert arr.to_numpy().dtype == np.bool_
            assert arr.to_numpy().tolist() == values


@pytest.mark.parametrize("bo", ["<", ">"], ids=["le", "be"])
def test_every_value_type_round_trips(tmp_path, bo):
    with layoutscope.open(write(tmp_path, values_builder(bo))) as m:
        assert m.byteorder == bo
        check_values(m)
        assert list(m.metadata) == ["general.architecture"] + [k for k, *_ in SCALARS] + [k for k, *_ in ARRAYS]


def test_metadata_entry_offsets_point_at_the_key(tmp_path):
    b = values_builder()
    data = b.to_bytes()
    with layoutscope.open(write(tmp_path, b)) as m:
        for key, entry in m.entries.items():
            (n,) = struct.unpack_from("<Q", data, entry.offset)
            assert n == len(key.encode()) and data[entry.offset + 8 : entry.offset + 8 + n] == key.encode()


def test_string_array_cannot_be_numpy(tmp_path):
    with layoutscope.open(write(tmp_path, values_builder())) as m:
        with pytest.raises(TypeError):
            m.metadata["a.string"].to_numpy()


def test_invalid_utf8_is_shown_not_fatal(tmp_path):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add("t.bad", STRING, b"ok\xff\xfe")
    b.add("a.bad", ARRAY, [b"\xc3", b"fine"], STRING)
    with layoutscope.open(write(tmp_path, b)) as m:
        assert m.metadata["t.bad"].startswith("ok") and "\ufffd" in m.metadata["t.bad"]
        assert m.metadata["a.bad"][1] == "fine" and m.metadata["a.bad"][0] == "\ufffd"


# -- lazy arrays -----------------------------------------------------------------------

N_BIG = 100_000


def big_token(i: int) -> str:
    return "é" * (i % 7) + f"tok{i}"


@pytest.fixture(scope="module")
def big_arrays(tmp_path_factory):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add("tokenizer.ggml.tokens", ARRAY, [big_token(i) for i in range(N_BIG)], STRING)
    b.add("tokenizer.ggml.scores", ARRAY, [float(-i) for i in range(N_BIG)], FLOAT32)
    b.add("tokenizer.ggml.token_type", ARRAY, [i % 7 for i in range(N_BIG)], INT32)
    path = tmp_path_factory.mktemp("big") / "big.gguf"
    b.write(path)
    m = layoutscope.open(path)
    yield m
    m.close()


def test_lazy_string_array(big_arrays):
    tokens = big_arrays.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, MetadataArray)
    assert len(tokens) == N_BIG
    assert tokens[99_999] == big_token(99_999)
    assert tokens[0] == big_token(0)
    for i in (1, 255, 256, 257, 54_321):
        assert tokens[i] == big_token(i)
    assert tokens[-1] == big_token(N_BIG - 1)
    assert tokens[-N_BIG] == big_token(0)
    assert tokens[np.int64(7)] == big_token(7)
    assert tokens[99_995:] == [big_token(i) for i in range(99_995, N_BIG)]
    assert tokens[10:13] == [big_token(i) for i in (10, 11, 12)]
    assert tokens[::25_000] == [big_token(i) for i in range(0, N_BIG, 25_000)]
    assert tokens[5:0:-2] == [big_token(i) for i in (5, 3, 1)]
    assert tokens[N_BIG + 5 :] == []
    assert tokens.head(3) == [big_token(i) for i in range(3)]
    for bad in (N_BIG, -N_BIG - 1, 2**40):
        with pytest.raises(IndexError):
            tokens[bad]


def test_lazy_numeric_arrays(big_arrays):
    scores = big_arrays.metadata["tokenizer.ggml.scores"]
    types = big_arrays.metadata["tokenizer.ggml.token_type"]
    assert len(scores) == len(types) == N_BIG
    assert scores[99_999] == -99_999.0 and scores[-2] == -99_998.0
    assert types[12] == 5 and types[-1] == (N_BIG - 1) % 7
    assert types[3:10:3] == [3, 6, 2]
    assert scores[:-3:-1] == [-99_999.0, -99_998.0]
    np.testing.assert_array_equal(scores.to_numpy(), -np.arange(N_BIG, dtype=np.float32))
    np.testing.assert_array_equal(types.to_numpy(), np.arange(N_BIG) % 7)
    assert types.to_numpy().dtype == np.int32
    with pytest.raises(IndexError):
        types[N_BIG]
    with pytest.raises(IndexError):
        scores[-N_BIG - 1]


def test_lazy_array_is_only_decoded_on_access(big_arrays):
    """The value is a lazy view of the map, not a list of 100k Python strings."""
    tokens = big_arrays.metadata["tokenizer.ggml.tokens"]
    assert not isinstance(tokens, list)
    assert tokens.nbytes == sum(8 + len(big_token(i).encode()) for i in range(N_BIG))


# -- versions ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
def test_v2_and_v3_files(tmp_path, version):
    b = values_builder(version=version)
    with layoutscope.open(write(tmp_path, b)) as m:
        assert m.version == version
        check_values(m)
        t = m.tensor("t.weight")
        assert t.ne == (8, 2)
        np.testing.assert_array_equal(t.dequantize(), f32(16).reshape(2, 8))


# -- big-endian --------------------------------------------------------------------------


def test_big_endian_built_file(tmp_path):
    w32 = f32(64 * 3, seed=3).reshape(3, 64)
    w16 = f32(32 * 4, seed=4).astype(np.float16).reshape(4, 32)
    b = GGUFBuilder(byteorder=">")
    b.add("general.architecture", STRING, "llama")
    b.add("llama.block_count", UINT32, 12)
    b.add("llama.rope.freq_base", FLOAT32, 10000.0)
    b.add("t.int64", INT64, -123456789012)
    b.add("tokenizer.ggml.tokens", ARRAY, ["a", "▁bé", "c"], STRING)
    b.add("tokenizer.ggml.token_type", ARRAY, [1, 2, 3], INT32)
    b.add_tensor("blk.0.w32.weight", (64, 3), F32, w32.astype(">f4").tobytes())
    b.add_tensor("blk.0.w16.weight", (32, 4), F16, w16.astype(">f2").tobytes())
    path = write(tmp_path, b)
    with layoutscope.open(path) as m:
        assert m.byteorder == ">" and m.version == 3
        assert any("big-endian" in w for w in m.warnings)
        assert m.metadata["llama.block_count"] == 12
        assert m.metadata["llama.rope.freq_base"] == 10000.0
        assert m.metadata["t.int64"] == -123456789012
        assert list(m.metadata["tokenizer.ggml.tokens"]) == ["a", "▁bé", "c"]
        assert m.metadata["tokenizer.ggml.token_type"].to_numpy().tolist() == [1, 2, 3]
        a, h = m.tensors
        assert a.ne == (64, 3) and a.shape == (3, 64) and a.type.name == "F32"
        assert h.ne == (32, 4) and h.shape == (4, 32) and h.type.name == "F16"
        assert a.nb == (4, 256) and h.nb == (2, 64)
        got32, got16 = a.dequantize(), h.dequantize()
        assert got32.dtype == np.float32 and got16.dtype == np.float32
        np.testing.assert_array_equal(got32, w32)
        np.testing.assert_array_equal(got16, w16.astype(np.float32))
        np.testing.assert_array_equal(h.dequantize(slice(1, 3)), w16[1:3].astype(np.float32))


def test_big_endian_file_written_by_gguf_py(tmp_path):
    path = tmp_path / "be.gguf"
    w32 = f32(4 * 64, seed=5).reshape(4, 64)
    w16 = f32(2 * 32, seed=6).astype(np.float16).reshape(2, 32)
    writer = gguf.GGUFWriter(str(path), "llama", endianess=gguf.GGUFEndian.BIG)
    writer.add_block_count(2)
    writer.add_string("general.name", "big ▁endian")
    writer.add_array("tokenizer.ggml.scores", [0.5, -1.0, 2.0])
    writer.add_tensor("token_embd.weight", w32)
    writer.add_tensor("output_norm.weight", w16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with layoutscope.open(path) as m:
        assert m.byteorder == ">"
        assert m.metadata["general.architecture"] == "llama"
        assert m.metadata["llama.block_count"] == 2
        assert m.metadata["general.name"] == "big ▁endian"
        assert list(m.metadata["tokenizer.ggml.scores"]) == [0.5, -1.0, 2.0]
        e, n = m.tensor("token_embd.weight"), m.tensor("output_norm.weight")
        assert e.shape == (4, 64) and n.shape == (2, 32)
        np.testing.assert_array_equal(e.dequantize(), w32)
        np.testing.assert_array_equal(n.dequantize(), w16.astype(np.float32))


# -- read-only files ------------------------------------------------------------------------


def test_read_only_file_is_never_modified(tmp_path, tiny_llama_path):
    path = tmp_path / "ro.gguf"
    path.write_bytes(tiny_llama_path.read_bytes())
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    os.chmod(path, 0o444)
    try:
        before = os.stat(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with layoutscope.open(path) as m:
            assert len(m.metadata["tokenizer.ggml.tokens"]) == 1000
            assert m.metadata["tokenizer.ggml.tokens"][999]
            for t in m.tensors:
                assert t.raw().size == t.nbytes
                assert t.dequantize(0).shape == (1, t.ne[0])
            with pytest.raises(ValueError):
                m.tensors[0].raw()[0, 0] = 1  # the views are read-only, too
        after = os.stat(path)
        assert after.st_mtime_ns == before.st_mtime_ns and after.st_size == before.st_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert after.st_mode & 0o777 == 0o444
    finally:
        os.chmod(path, 0o644)


# -- split models ----------------------------------------------------------------------------

SPLIT_TENSORS = [(f"blk.{i}.w.weight", f32(64 * (i + 1), seed=10 + i).reshape(i + 1, 64)) for i in range(6)]


def write_split_with_gguf_py(directory) -> list:
    writer = gguf.GGUFWriter(str(directory / "m.gguf"), "llama", split_max_tensors=2)
    writer.add_block_count(6)
    writer.add_string("general.name", "split by gguf-py")
    for name, w in SPLIT_TENSORS:
        writer.add_tensor(name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return [directory / f"m-{i:05d}-of-00003.gguf" for i in (1, 2, 3)]


def write_split_with_builder(directory) -> list:
    paths = []
    for no in range(3):
        b = GGUFBuilder()
        if no == 0:
            b.add("general.architecture", STRING, "llama")
            b.add("general.name", STRING, "split by hand")
            b.add("llama.block_count", UINT32, 6)
        else:
            b.add("general.name", STRING, f"shard {no + 1} must not be used")
        b.add("split.no", UINT16, no)
        b.add("split.count", UINT16, 3)
        b.add("split.tensors.count", INT32, len(SPLIT_TENSORS))
        for name, w in SPLIT_TENSORS[2 * no : 2 * no + 2]:
            b.add_tensor(name, w.shape[::-1], F32, w.astype("<f4").tobytes())
        path = directory / f"m-{no + 1:05d}-of-00003.gguf"
        b.write(path)
        paths.append(path)
    return paths


@pytest.fixture(params=["gguf-py", "builder"])
def split_paths(request, tmp_path):
    writer = write_split_with_gguf_py if request.param == "gguf-py" else write_split_with_builder
    paths = writer(tmp_path)
    assert all(p.is_file() for p in paths) and len(list(tmp_path.glob("*.gguf"))) == 3
    return paths


def test_split_model_opens_all_shards(split_paths):
    with layoutscope.open(split_paths[0]) as m:
        assert m.paths == tuple(str(p) for p in split_paths)
        assert [t.name for t in m.tensors] == [name for name, _ in SPLIT_TENSORS]
        assert m.metadata["general.architecture"] == "llama"
        assert m.metadata["general.name"].startswith("split by")
        assert m.metadata["split.no"] == 0 and m.metadata["split.count"] == 3
        assert m.entries["split.no"].type == ValueType.UINT16
        assert m.entries["split.tensors.count"].type == ValueType.INT32
        assert m.metadata["split.tensors.count"] == len(SPLIT_TENSORS)
        assert m.block_count == 6
        for i, (t, (name, w)) in enumerate(zip(m.tensors, SPLIT_TENSORS)):
            shard = split_paths[i // 2]
            assert t.path == str(shard)
            assert t.shape == w.shape
            np.testing.assert_array_equal(t.dequantize(), w)
            raw = shard.read_bytes()[t.offset : t.offset + t.nbytes]
            assert t.raw().tobytes() == raw
        assert not any("split" in w or "shard" in w for w in m.warnings), m.warnings


def test_split_model_missing_shard(split_paths):
    os.remove(split_paths[1])
    with pytest.raises(GGUFError) as info:
        layoutscope.open(split_paths[0])
    err = info.value
    assert "m-00002-of-00003.gguf" in err.message and "missing" in err.message
    assert str(split_paths[1]) in str(err)
    assert "\n" not in str(err)


def test_opening_a_later_shard_directly(split_paths):
    with layoutscope.open(split_paths[1]) as m:
        assert m.paths == (str(split_paths[1]),)
        assert [t.name for t in m.tensors] == [name for name, _ in SPLIT_TENSORS[2:4]]
        np.testing.assert_array_equal(m.tensors[1].dequantize(), SPLIT_TENSORS[3][1])
        notes = [w for w in m.warnings if "m-00001-of-00003.gguf" in w]
        assert notes and "metadata" in notes[0]
        assert m.metadata["split.no"] == 1


# -- unknown, removed and newest type ids -------------------------------------------------------


def odd_type_builder(type_id: int, last: bool = False) -> tuple[GGUFBuilder, bytes]:
    payload = bytes(range(50))
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("before.weight", (64,), F32, f32(64).tobytes())
    b.add_tensor("odd.weight", (100,), type_id, payload)
    if not last:
        b.add_tensor("after.weight", (64,), F32, f32(64, seed=1).tobytes())
    return b, payload


@pytest.mark.parametrize("type_id, name, reason", [
    (43, "unknown(43)", "not a ggml type layoutscope knows"),
    (200, "unknown(200)", "not a ggml type layoutscope knows"),
    (Q4_0_4_4, "Q4_0_4_4", "removed"),
    (4, "Q4_2", "removed"),
])
@pytest.mark.parametrize("last", [False, True], ids=["middle", "last"])
def test_unknown_and_removed_type_ids(tmp_path, type_id, name, reason, last):
    b, payload = odd_type_builder(type_id, last)
    with layoutscope.open(write(tmp_path, b)) as m:
        t = m.tensor("odd.weight")
        assert t.type.id == type_id and t.type.name == name
        assert t.ne == (100,)
        # The extent is inferred: up to the next tensor, or the end of the file.
        assert t.nbytes == 64
        raw = t.raw()
        assert raw.dtype == np.uint8 and raw.size == 64
        assert raw.tobytes()[:50] == payload and not raw.tobytes()[50:].strip(b"\0")
        with pytest.raises(NotImplementedError) as info:
            t.dequantize()
        assert reason in str(info.value) and str(type_id) in str(info.value)
        notes = [w for w in m.warnings if "odd.weight" in w]
        assert len(notes) == 1 and name in notes[0] and reason in notes[0]
        # The neighbours are unaffected.
        np.testing.assert_array_equal(m.tensor("before.weight").dequantize()[0], f32(64))
        if not last:
            np.testing.assert_array_equal(m.tensor("after.weight").dequantize()[0], f32(64, seed=1))


def test_q2_0_is_known(tmp_path):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add("general.quantization_version", UINT32, 2)
    b.add_tensor("q2.weight", (128, 3), Q2_0, bytes(18 * 2 * 3))
    with layoutscope.open(write(tmp_path, b)) as m:
        t = m.tensor("q2.weight")
        assert t.type.name == "Q2_0" and t.type.block_size == 64 and t.type.type_size == 18
        assert t.nbytes == 108 and t.nb == (18, 36) and t.raw().shape == (3, 36)
        assert m.warnings == ()


# -- gaps and order ---------------------------------------------------------------------------------


def two_tensors(off_a: int, off_b: int) -> GGUFBuilder:
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("a.weight", (64,), F32, f32(64).tobytes(), offset=off_a)
    b.add_tensor("b.weight", (64,), F32, f32(64, seed=1).tobytes(), offset=off_b)
    return b


def test_sequential_tensors_give_no_warning(tmp_path):
    with layoutscope.open(write(tmp_path, two_tensors(0, 256))) as m:
        assert m.warnings == ()


def test_gap_between_tensors_is_a_warning(tmp_path):
    b = two_tensors(0, 512)
    with layoutscope.open(write(tmp_path, b)) as m:
        gaps = [w for w in m.warnings if "gap" in w]
        assert len(gaps) == 1
        assert "256 unused bytes" in gaps[0] and "'b.weight'" in gaps[0]
        assert str(m.data_start + 256) in gaps[0]
        np.testing.assert_array_equal(m.tensor("b.weight").dequantize()[0], f32(64, seed=1))


def test_out_of_order_offsets_are_a_warning(tmp_path):
    with layoutscope.open(write(tmp_path, two_tensors(256, 0))) as m:
        assert [t.name for t in m.tensors] == ["a.weight", "b.weight"]  # tensor-info order
        assert m.tensor("a.weight").offset == m.data_start + 256
        order = [w for w in m.warnings if "order" in w]
        assert len(order) == 1 and not any("gap" in w for w in m.warnings)
        np.testing.assert_array_equal(m.tensor("a.weight").dequantize()[0], f32(64))
        np.testing.assert_array_equal(m.tensor("b.weight").dequantize()[0], f32(64, seed=1))


# -- names and layers ----------------------------------------------------------------------------------

LAYER_NAMES = [
    ("token_embd.weight", None, None, "token_embd.weight"),
    ("blk.3.ffn_down.weight", "", 3, "ffn_down.weight"),
    ("blk.12.attn_norm.weight", "", 12, "attn_norm.weight"),
    ("enc.blk.1.attn_q.weight", "enc", 1, "attn_q.weight"),
    ("dec.blk.2.cross_attn_k.weight", "dec", 2, "cross_attn_k.weight"),
    ("v.blk.0.attn_out.weight", "v", 0, "attn_out.weight"),
    ("a.blk.4.ffn_up.weight", "a", 4, "ffn_up.weight"),
    ("output.weight", None, None, "output.weight"),
    ("blk.x.ffn_up.weight", None, None, "blk.x.ffn_up.weight"),
    ("myblk.3.ffn_up.weight", None, None, "myblk.3.ffn_up.weight"),
]


def test_layer_parsing(tmp_path):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    for name, *_ in LAYER_NAMES:
        b.add_tensor(name, (4,), F32, f32(4).tobytes())
    with layoutscope.open(write(tmp_path, b)) as m:
        for name, group, layer, role in LAYER_NAMES:
            t = m.tensor(name)
            assert (t.layer_group, t.layer, t.role) == (group, layer, role), name
            assert isinstance(t.layer, (int, type(None)))


def test_unknown_tensor_name_suggests_close_names(tiny_llama_path):
    with layoutscope.open(tiny_llama_path) as m:
        with pytest.raises(KeyError) as info:
            m.tensor("blk.0.attn_qq.weight")
        assert "blk.0.attn_q.weight" in str(info.value)
        assert "blk.0.attn_q.weight" in m and "blk.0.attn_qq.weight" not in m


# -- tensor data access ------------------------------------------------------------------------------


def test_raw_rows_are_views_of_the_map(tiny_llama_path):
    data = tiny_llama_path.read_bytes()
    with layoutscope.open(tiny_llama_path) as m:
        t = m.tensor("token_embd.weight")
        assert t.type.name == "Q8_0" and t.ne == (256, 1000)
        assert t.row_bytes == 272 and t.nb == (34, 272)
        window = t.raw(slice(200, 264))
        assert window.shape == (64, 272) and window.dtype == np.uint8
        assert window.tobytes() == data[t.offset + 200 * 272 : t.offset + 264 * 272]
        assert np.shares_memory(window, t.raw())
        base = window
        while isinstance(base, (np.ndarray, memoryview)):
            base = base.base if isinstance(base, np.ndarray) else base.obj
        assert isinstance(base, mmap.mmap)
        assert not window.flags.writeable
        assert t.raw(5).shape == (1, 272) and t.raw(5).tobytes() == data[t.offset + 5 * 272 : t.offset + 6 * 272]
        assert t.raw(-1).tobytes() == data[t.end - 272 : t.end]
        assert t.raw(range(0, 10, 3)).tobytes() == b"".join(
            data[t.offset + r * 272 : t.offset + (r + 1) * 272] for r in (0, 3, 6, 9))
        assert t.raw().shape == (1000, 272)
        with pytest.raises(IndexError):
            t.raw(1000)


def test_dequantize_window_equals_the_whole(tiny_llama_path):
    with layoutscope.open(tiny_llama_path) as m:
        t = m.tensor("token_embd.weight")
        whole = t.dequantize()
        assert whole.shape == (1000, 256) and whole.dtype == np.float32
        reference = gguf.quants.dequantize(t.raw(), gguf.GGMLQuantizationType.Q8_0)
        np.testing.assert_array_equal(whole, reference)
        window = t.dequantize(slice(200, 264))
        assert window.shape == (64, 256)
        np.testing.assert_array_equal(window, whole[200:264])
        np.testing.assert_array_equal(t.dequantize(999), whole[999:1000])
        np.testing.assert_array_equal(t.dequantize(range(990, 1000, 4)), whole[990:1000:4])


def test_q8_0_strides_and_sizes(tmp_path):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add("general.quantization_version", UINT32, 2)
    b.add_tensor("blk.0.ffn_up.weight", (11008, 8), Q8_0, bytes(11696 * 8))
    b.add_tensor("blk.0.x.weight", (64, 3, 2, 2), F16, bytes(2 * 64 * 12))
    with layoutscope.open(write(tmp_path, b)) as m:
        t = m.tensor("blk.0.ffn_up.weight")
        assert t.nb == (34, 11696)
        assert t.nbytes == 93568 and t.n_elements == 88064
        assert t.shape == (8, 11008) and t.row_bytes == 11696
        assert t.offset == m.data_start
        x = m.tensor("blk.0.x.weight")
        assert x.nb == (2, 128, 384, 768) and x.shape == (2, 2, 3, 64)
        assert x.raw().shape == (12, 128) and x.offset == m.data_start + 93568
        assert m.warnings == ()


def test_same_tensor_in_two_shards_is_an_error(tmp_path):
    paths = write_split_with_builder(tmp_path)
    b = GGUFBuilder()
    b.add("split.no", UINT16, 2)
    b.add("split.count", UINT16, 3)
    b.add("split.tensors.count", INT32, len(SPLIT_TENSORS))
    name, w = SPLIT_TENSORS[0]  # already in shard 1
    b.add_tensor(name, w.shape[::-1], F32, w.astype("<f4").tobytes())
    b.write(paths[2])
    with pytest.raises(GGUFError) as info:
        layoutscope.open(paths[0])
    err = info.value
    assert name in err.message and str(paths[0]) in err.message and str(paths[2]) in err.message
    assert err.path == str(paths[2])


def test_split_name_with_zero_count_does_not_crash(tmp_path):
    b = GGUFBuilder()
    b.add("general.architecture", STRING, "llama")
    b.add_tensor("a.weight", (64,), F32, f32(64).tobytes())
    path = write(tmp_path, b, "m-00001-of-00000.gguf")
    try:
        m = layoutscope.open(path)
    except GGUFError as err:
        assert "00000" in str(err)
    else:
        with m:
            assert [t.name for t in m.tensors] == ["a.weight"]
