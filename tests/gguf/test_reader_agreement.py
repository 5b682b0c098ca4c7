"""Our reader and gguf-py's GGUFReader see the same file.

On both bundled samples: tensor names in order, type ids, shapes (gguf-py's
``shape`` is in ne order), absolute data offsets, byte sizes, the bytes
themselves, and every metadata value. gguf-py 0.19 cannot read type id 42
(Q2_0), so the all-types comparison uses a copy built without it; the real
sample, Q2_0 included, is checked on its own.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest

import layoutscope
from layoutscope.gguf import MetadataArray, ValueType

PSEUDO_FIELDS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}


@pytest.fixture(scope="module")
def all_types_without_q2_0(tmp_path_factory):
    from layoutscope.samples import make_samples

    path = tmp_path_factory.mktemp("agreement") / "all-types-no-q2_0.gguf"
    make_samples.build_all_types(exclude=("Q2_0",)).write(path)
    return path


@pytest.fixture(params=["tiny-llama", "all-types"])
def sample(request, tiny_llama_path, all_types_without_q2_0):
    return tiny_llama_path if request.param == "tiny-llama" else all_types_without_q2_0


def test_header_agrees(sample):
    reader = gguf.GGUFReader(sample)
    with layoutscope.open(sample) as m:
        assert m.version == int(reader.fields["GGUF.version"].contents())
        assert len(m.tensors) == int(reader.fields["GGUF.tensor_count"].contents()) == len(reader.tensors)
        assert len(m.metadata) == int(reader.fields["GGUF.kv_count"].contents())
        assert m.alignment == reader.alignment
        assert m.data_start == reader.data_offset
        assert m.byteorder == "<" and reader.endianess == gguf.GGUFEndian.LITTLE


def test_tensors_agree(sample):
    reader = gguf.GGUFReader(sample)
    with layoutscope.open(sample) as m:
        assert [t.name for t in m.tensors] == [rt.name for rt in reader.tensors]
        for t, rt in zip(m.tensors, reader.tensors):
            assert t.type.id == int(rt.tensor_type), t.name
            assert t.type.name == rt.tensor_type.name, t.name
            assert t.ne == tuple(int(n) for n in rt.shape), t.name
            assert t.n_elements == int(rt.n_elements), t.name
            assert t.offset == int(rt.data_offset), t.name
            assert t.nbytes == int(rt.n_bytes), t.name
            assert t.raw().tobytes() == rt.data.tobytes(), t.name
            block, size = gguf.GGML_QUANT_SIZES[rt.tensor_type]
            assert (t.type.block_size, t.type.type_size) == (block, size), t.name


def test_tensor_values_agree(sample):
    """Where gguf-py can dequantize, the values are the same."""
    reader = gguf.GGUFReader(sample)
    checked = 0
    with layoutscope.open(sample) as m:
        for t, rt in zip(m.tensors, reader.tensors):
            if not t.type.can_dequantize:
                continue
            try:
                ref = gguf.quants.dequantize(rt.data, rt.tensor_type)
            except NotImplementedError:
                continue
            ours = t.dequantize()
            ref = np.asarray(ref, dtype=np.float32).reshape(ours.shape)
            np.testing.assert_array_equal(ours, ref, err_msg=t.name)
            checked += 1
    assert checked >= 2


def test_metadata_agrees(sample):
    reader = gguf.GGUFReader(sample)
    fields = {k: f for k, f in reader.fields.items() if k not in PSEUDO_FIELDS}
    with layoutscope.open(sample) as m:
        assert list(m.metadata) == list(fields)
        for key, field in fields.items():
            entry = m.entries[key]
            assert int(entry.type) == int(field.types[0]), key
            assert entry.offset == field.offset, key
            ours, theirs = m.metadata[key], field.contents()
            if entry.type == ValueType.ARRAY:
                assert int(entry.element_type) == int(field.types[-1]), key
                assert isinstance(ours, MetadataArray)
                assert len(ours) == len(theirs), key
                assert list(ours) == list(theirs), key
                # element by element, through the lazy index path too
                for i in sorted({0, 1, len(theirs) // 2, len(theirs) - 1}):
                    if 0 <= i < len(theirs):
                        assert ours[i] == theirs[i], (key, i)
            else:
                assert ours == theirs, key
                assert type(ours) is type(theirs), key


def test_tiny_llama_metadata_is_what_the_builder_wrote(tiny_llama_path):
    """Guards the comparison above against both readers agreeing on nothing."""
    with layoutscope.open(tiny_llama_path) as m:
        assert m.metadata["general.architecture"] == "llama"
        assert m.metadata["llama.block_count"] == 4
        tokens = m.metadata["tokenizer.ggml.tokens"]
        assert len(tokens) == 1000 and tokens[0] == "<unk>" and tokens[3] == "<0x00>"
        assert m.metadata["tokenizer.ggml.add_bos_token"] is True
        assert m.tensor("output.weight").ne == (256, 1000)
        assert len(m.tensors) == 2 + 4 * 9 + 1


def test_real_all_types_sample_opens_with_q2_0(all_types_path):
    from layoutscope.formats import all_types

    expected = [t for t in all_types() if not t.removed and t.is_weight_type]
    with layoutscope.open(all_types_path) as m:
        assert [t.type.id for t in m.tensors] == [t.id for t in expected]
        q2 = m.tensor("q2_0.weight")
        assert q2.type.id == 42 and q2.type.name == "Q2_0"
        assert q2.ne == (512, 48)
        assert q2.nbytes == 512 * 48 // 64 * 18
        assert q2.raw().shape == (48, 512 // 64 * 18)
        for t in m.tensors:
            assert t.nbytes == t.n_elements // t.type.block_size * t.type.type_size, t.name
            assert t.offset % m.alignment == 0, t.name
        assert not any("q2_0" in w.lower() for w in m.warnings), m.warnings
