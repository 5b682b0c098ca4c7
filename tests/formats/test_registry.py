"""Registry-wide checks: one test body runs over every ggml type id.

The reference is ggml itself (the build bundled with llama-cpp-python): every dequantizer must be
bit-identical to ggml's ``to_float`` on random blocks and on blocks ggml
quantized, and every element anatomy must reproduce the dequantized value.
"""

from __future__ import annotations

import numpy as np
import pytest

from layoutscope.formats import TYPE_COUNT, all_types, ggml_type

TYPES = all_types()
LIVE = [t for t in TYPES if not t.removed]
DEQUANTIZABLE = [t for t in LIVE if t.can_dequantize]


def _ids(types):
    return [t.name for t in types]


def _assert_bit_identical(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.dtype == np.float32 and ours.shape == ref.shape, what
    ours_nan, ref_nan = np.isnan(ours), np.isnan(ref)
    assert np.array_equal(ours_nan, ref_nan), f"{what}: NaN positions differ"
    a = ours[~ours_nan].view(np.uint32)
    b = ref[~ref_nan].view(np.uint32)
    bad = np.flatnonzero(a != b)
    assert bad.size == 0, (
        f"{what}: {bad.size} of {a.size} values differ; first at {bad[0]}: "
        f"ours {ours[~ours_nan][bad[0]]!r} ggml {ref[~ref_nan][bad[0]]!r}"
    )


def _random_blocks(t, n_blocks: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n_blocks, t.type_size), dtype=np.uint8)


def test_registry_covers_every_id_once():
    assert [t.id for t in TYPES] == list(range(TYPE_COUNT))
    assert len({t.name for t in TYPES}) == TYPE_COUNT


@pytest.mark.parametrize("t", TYPES, ids=_ids(TYPES))
def test_sizes_match_ggml(t, ggml):
    traits = ggml.traits(t.id)
    if t.removed:
        assert traits.block_size == 0 and t.replaced_by
        return
    assert (t.block_size, t.type_size) == (traits.block_size, traits.type_size)
    assert t.is_quantized == traits.is_quantized
    assert t.name.lower() == traits.name.lower()


@pytest.mark.parametrize("t", LIVE, ids=_ids(LIVE))
def test_field_table_tiles_the_block(t):
    """Fields are listed in order, do not overlap and cover every byte."""
    assert t.fields, f"{t.name} has no field table"
    position = 0
    for f in t.fields:
        assert f.offset == position, f"{t.name}.{f.name} starts at {f.offset}, expected {position}"
        assert f.size > 0 and f.ctype and f.meaning
        position = f.end
    assert position == t.type_size


@pytest.mark.parametrize("t", LIVE, ids=_ids(LIVE))
def test_vec_dot_type_is_a_registered_type(t):
    if t.name in ("Q8_1", "Q8_K"):
        assert not t.is_weight_type and t.vec_dot_type is None
        return
    assert t.is_weight_type
    if t.name in ("I8", "I16", "I32", "I64", "F64"):
        return  # no CPU mul_mat for these
    assert ggml_type(t.vec_dot_type).name == t.vec_dot_type


@pytest.mark.parametrize("t", LIVE, ids=_ids(LIVE))
def test_every_live_type_dequantizes(t):
    assert t.can_dequantize, f"{t.name} has no dequantizer"


@pytest.mark.parametrize("t", DEQUANTIZABLE, ids=_ids(DEQUANTIZABLE))
def test_random_blocks_bit_exact_against_ggml(t, ggml):
    blocks = _random_blocks(t, 96, seed=t.id)
    ours = t.dequantize(blocks.reshape(-1)).reshape(-1)
    if ggml.has_to_float(t.id):
        ref = ggml.to_float(t.id, blocks, blocks.shape[0] * t.block_size)
    else:
        # F32, F64 and the integer types have no to_float: they are plain views.
        dtype = {"F32": "<f4", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}
        if t.name == "Q8_1":
            # Activation-only; x = d·q like Q8_0, the sum field s is not a scale.
            d = blocks[:, :2].copy().view("<f2").astype(np.float32)
            ref = (blocks[:, 4:].view(np.int8).astype(np.float32) * d).reshape(-1)
        else:
            with np.errstate(over="ignore"):  # random F64 bytes overflow float32, as in ggml
                ref = blocks.reshape(-1).view(dtype[t.name]).astype(np.float32)
    _assert_bit_identical(ours, ref, f"{t.name} random blocks")


QUANTIZABLE = [t for t in DEQUANTIZABLE if t.is_weight_type and t.block_size > 1]


@pytest.mark.parametrize("t", QUANTIZABLE, ids=_ids(QUANTIZABLE))
def test_ggml_quantized_rows_bit_exact(t, ggml):
    rng = np.random.default_rng(1000 + t.id)
    values = (rng.standard_normal((8, 1024)) * 0.02).astype(np.float32)
    traits = ggml.traits(t.id)
    imatrix = np.ones(1024, np.float32) if traits.requires_imatrix else None
    raw = ggml.quantize(t.id, values, imatrix)
    ours = t.dequantize(raw)
    ref = ggml.to_float(t.id, raw, values.size).reshape(values.shape)
    _assert_bit_identical(ours, ref, f"{t.name} ggml-quantized rows")
    # A sane format reproduces the input roughly: guards against a decoder
    # that matches ggml only on degenerate data.
    err = np.sqrt(np.mean((ours - values) ** 2)) / np.sqrt(np.mean(values**2))
    assert err < 0.9


@pytest.mark.parametrize("t", DEQUANTIZABLE, ids=_ids(DEQUANTIZABLE))
def test_row_window_equals_slice_of_whole(t):
    blocks = _random_blocks(t, 4 * 8, seed=7 + t.id).reshape(8, -1)
    whole = t.dequantize(blocks)
    window = t.dequantize(blocks[5:7])
    assert np.array_equal(whole[5:7].view(np.uint32), window.view(np.uint32))


@pytest.mark.parametrize("t", DEQUANTIZABLE, ids=_ids(DEQUANTIZABLE))
def test_anatomy_reproduces_every_element(t):
    """The worked-out value of each element equals the dequantized value."""
    blocks = _random_blocks(t, 3, seed=99 + t.id)
    values = t.dequantize(blocks)
    rng = np.random.default_rng(t.id)
    for b in range(blocks.shape[0]):
        block = blocks[b].tobytes()
        elements = range(t.block_size) if t.block_size <= 64 else rng.choice(t.block_size, 48, replace=False)
        for j in elements:
            a = t.anatomy(block, int(j))
            expected = values[b, j]
            got = np.float32(a.value)
            assert (np.isnan(got) and np.isnan(expected)) or got.view(np.uint32) == expected.view(np.uint32), (
                f"{t.name} block {b} element {j}: anatomy {a.value!r} != dequantized {expected!r}"
            )
            assert a.formula and a.worked and a.quant
            for src in a.quant:
                field = next(f for f in t.fields if f.name == src.field)
                assert field.offset <= src.byte < field.end, f"{t.name}: {src} outside field {field}"


@pytest.mark.parametrize("name", ["Q8_0", "q8_0", "8", 8])
def test_lookup_by_name_or_id(name):
    assert ggml_type(name).name == "Q8_0"


def test_unknown_ids_and_names():
    t = ggml_type(57)
    assert t.name == "unknown(57)" and not t.known and not t.can_dequantize
    assert "57" in t.unavailable_reason()
    with pytest.raises(KeyError, match="Q8_0"):
        ggml_type("Q9_9")


def test_q8_0_fields_are_the_34_byte_trap():
    t = ggml_type("Q8_0")
    assert (t.block_size, t.type_size, t.bits_per_weight) == (32, 34, 8.5)
    assert [(f.name, f.offset, f.size) for f in t.fields] == [("d", 0, 2), ("qs", 2, 32)]
    assert t.row_bytes(11008) == 11696


def test_removed_ids_say_what_replaced_them():
    t = ggml_type(31)
    assert t.removed and "Q4_0" in t.replaced_by and not t.can_dequantize
