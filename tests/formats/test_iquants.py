"""IQ-family checks beyond the registry-wide ones.

* Every row of every lattice grid, under every sign code and delta, is
  decoded by ggml and by us on crafted blocks (random blocks reach only part
  of the 2048-row iq1s_grid or the 262 144 sign x grid pairs of IQ2_S).
* An element's anatomy names *all* the bits it depends on: flipping any
  other bit leaves it alone; flipping a named sign bit negates it exactly;
  flipping a named scale, code or delta bit changes it.
* The derived ksigns table equals gguf-py's, and importing the registry
  does not build any table.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from layoutscope.formats import _iq_tables as tables
from layoutscope.formats import ggml_type

IQ_NAMES = ["IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "IQ1_M"]


def _assert_bit_identical(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.dtype == np.float32 and ours.shape == ref.shape, what
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), f"{what}: NaN positions differ"
    ok = np.isnan(ours) | (ours.view(np.uint32) == ref.view(np.uint32))
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, f"{what}: {bad.size} values differ, first at {bad[0]}"


def _sane_fp16(rng, n: int) -> np.ndarray:
    """Finite, normal fp16 scales of either sign, as raw uint16."""
    d = rng.uniform(1e-3, 1.0, n) * rng.choice([-1.0, 1.0], n)
    return d.astype(np.float16).view(np.uint16)


def _put_u16(blocks: np.ndarray, offset: int, values: np.ndarray) -> None:
    raw = values.astype("<u2").view(np.uint8).reshape(len(blocks), -1)
    blocks[:, offset : offset + raw.shape[1]] = raw


def _put_u32(blocks: np.ndarray, offset: int, values: np.ndarray) -> None:
    raw = values.astype("<u4").view(np.uint8).reshape(len(blocks), -1)
    blocks[:, offset : offset + raw.shape[1]] = raw


def _with_d(blocks: np.ndarray, rng) -> np.ndarray:
    _put_u16(blocks, 0, _sane_fp16(rng, len(blocks))[:, None])
    return blocks


def _iq1m_set_scale(blocks: np.ndarray, rng) -> None:
    words = blocks[:, 48:56].copy().view("<u2").astype(np.uint32)
    bits = _sane_fp16(rng, len(blocks)).astype(np.uint32)
    for i in range(4):
        words[:, i] = (words[:, i] & 0x0FFF) | (((bits >> (4 * i)) & 15) << 12)
    _put_u16(blocks, 48, words)


def _crafted(name: str, rng) -> np.ndarray:
    """Blocks whose index fields enumerate every (grid row, sign code / delta) pair once."""
    t = ggml_type(name)

    def random_blocks(n):
        return _with_d(rng.integers(0, 256, (n, t.type_size), dtype=np.uint8), rng)

    if name == "IQ2_XXS":  # 256 grid rows x 128 sign indices, 32 groups per block
        c = np.arange(256 * 128, dtype=np.uint32).reshape(-1, 8, 4)
        b = random_blocks(len(c))
        q = b[:, 2:66].reshape(-1, 8, 8)
        q[:, :, 0:4] = c & 255
        aux = ((c >> 8) << (7 * np.arange(4, dtype=np.uint32))).sum(axis=2, dtype=np.uint32)
        aux |= rng.integers(0, 16, aux.shape, dtype=np.uint32) << 28
        q[:, :, 4:8] = aux.astype("<u4").view(np.uint8).reshape(-1, 8, 4)
        return b
    if name == "IQ2_XS":  # the u16 code is (sign index << 9 | grid row): all 65536 of them
        c = np.arange(1 << 16, dtype=np.uint32).reshape(-1, 32)
        b = random_blocks(len(c))
        _put_u16(b, 2, c)
        return b
    if name == "IQ2_S":  # 1024 grid rows x 256 sign bytes
        c = np.arange(1024 * 256, dtype=np.uint32).reshape(-1, 8, 4)
        b = random_blocks(len(c))
        grid_row, sign = c & 1023, c >> 10
        b[:, 2:34] = (grid_row & 255).reshape(-1, 32)
        b[:, 34:66] = sign.reshape(-1, 32)
        b[:, 66:74] = ((grid_row >> 8) << (2 * np.arange(4, dtype=np.uint32))).sum(axis=2)
        return b
    if name == "IQ3_XXS":  # 256 grid rows x 128 sign indices (both nibbles of every sign byte)
        c = np.arange(256 * 128, dtype=np.uint32).reshape(-1, 8, 4)
        b = random_blocks(len(c))
        b[:, 2:66] = np.repeat(c & 255, 2, axis=2).reshape(-1, 64)
        aux = ((c >> 8) << (7 * np.arange(4, dtype=np.uint32))).sum(axis=2, dtype=np.uint32)
        aux |= rng.integers(0, 16, aux.shape, dtype=np.uint32) << 28
        _put_u32(b, 66, aux)
        return b
    if name == "IQ3_S":  # 512 grid rows x 16 sign nibbles, 64 groups of 4 per block
        c = np.arange(512 * 16, dtype=np.uint32).reshape(-1, 8, 8)
        b = random_blocks(len(c))
        grid_row, nib = c & 511, c >> 9
        b[:, 2:66] = (grid_row & 255).reshape(-1, 64)
        b[:, 66:74] = ((grid_row >> 8) << np.arange(8, dtype=np.uint32)).sum(axis=2)
        pairs = nib.reshape(-1, 32, 2)
        b[:, 74:106] = pairs[:, :, 0] | (pairs[:, :, 1] << 4)
        return b
    if name == "IQ1_S":  # 2048 grid rows x both delta signs
        c = np.arange(2048 * 2, dtype=np.uint32).reshape(-1, 8, 4)
        b = random_blocks(len(c))
        grid_row = c & 2047
        b[:, 2:34] = (grid_row & 255).reshape(-1, 32)
        qh = ((grid_row >> 8) << (3 * np.arange(4, dtype=np.uint32))).sum(axis=2, dtype=np.uint32)
        qh |= rng.integers(0, 8, qh.shape, dtype=np.uint32) << 12
        qh |= (c[:, :, 0] >> 11) << 15  # a whole 32-group shares the delta sign
        _put_u16(b, 34, qh)
        return b
    if name == "IQ1_M":  # 2048 grid rows x both delta signs, a qh nibble per group of 8
        c = np.arange(2048 * 2, dtype=np.uint32).reshape(-1, 32)
        b = rng.integers(0, 256, (len(c), t.type_size), dtype=np.uint8)
        b[:, 0:32] = c & 255
        nib = ((c >> 8) & 7) | ((c >> 11) << 3)
        b[:, 32:48] = nib[:, 0::2] | (nib[:, 1::2] << 4)
        _iq1m_set_scale(b, rng)
        return b
    # IQ4_NL / IQ4_XS: 16 codes, which random bytes cover many times over.
    return random_blocks(256)


@pytest.mark.parametrize("name", IQ_NAMES)
def test_every_table_row_matches_ggml(name, ggml):
    t = ggml_type(name)
    blocks = _crafted(name, np.random.default_rng(t.id))
    ours = t.dequantize(blocks)
    ref = ggml.to_float(t.id, blocks, blocks.shape[0] * t.block_size).reshape(ours.shape)
    _assert_bit_identical(ours, ref, f"{name} crafted blocks")
    assert np.isfinite(ours).all(), "crafted blocks should use finite scales"


def _sane_block(name: str, rng) -> np.ndarray:
    t = ggml_type(name)
    block = rng.integers(0, 256, (1, t.type_size), dtype=np.uint8)
    if name == "IQ1_M":
        _iq1m_set_scale(block, rng)
    else:
        _with_d(block, rng)
    return block[0]


@pytest.mark.parametrize("name", IQ_NAMES)
def test_anatomy_names_every_bit_the_value_depends_on(name):
    t = ggml_type(name)
    rng = np.random.default_rng(500 + t.id)
    block = _sane_block(name, rng)
    n_bits = t.type_size * 8
    # One copy of the block per bit, with that bit flipped.
    flipped = np.repeat(block[None], n_bits, axis=0)
    flipped[np.arange(n_bits), np.arange(n_bits) // 8] ^= (1 << (np.arange(n_bits) % 8)).astype(np.uint8)
    values = t.dequantize(flipped).view(np.uint32)
    base = t.dequantize(block[None]).view(np.uint32)[0]
    for e in range(t.block_size):
        a = t.anatomy(block.tobytes(), e)
        assert base[e] == np.float32(a.value).view(np.uint32)
        assert base[e] & 0x7FFFFFFF, f"{name}[{e}] is zero; the bit checks below need a nonzero value"
        role_of_bit = {}
        for src in a.quant:
            lo, hi = src.bits
            for bit in range(lo, hi + 1):
                role_of_bit[src.byte * 8 + bit] = src.role
        scale_bits = set()
        for term in a.terms:
            if term.name == "d":
                scale_bits.update(range(term.byte * 8, (term.byte + term.size) * 8))
        for bit in range(n_bits):
            got = values[bit, e]
            role = role_of_bit.get(bit)
            where = f"{name}[{e}] bit {bit % 8} of byte {bit // 8}"
            if role is None:
                if bit not in scale_bits:
                    assert got == base[e], f"{where} changes the value but the anatomy does not name it"
            elif role.startswith("sign"):
                assert got == base[e] ^ 0x80000000, f"{where} ({role}) should negate the value"
            elif not role.startswith("grid index"):
                # Scales, codes and the IQ1 delta change the value whatever the other bits are;
                # a grid-index bit may pick a row with the same magnitude at this position.
                assert got != base[e], f"{where} ({role}) does not change the value"


@pytest.mark.parametrize("name", IQ_NAMES)
def test_quantized_payload_ignores_byteorder(name):
    t = ggml_type(name)
    blocks = np.random.default_rng(3).integers(0, 256, (4, t.type_size), dtype=np.uint8)
    assert np.array_equal(
        t.dequantize(blocks, "<").view(np.uint32), t.dequantize(blocks, ">").view(np.uint32)
    )


def test_derived_ksigns_equal_gguf_py():
    from gguf import quants

    derived = tables.ksigns()
    assert np.array_equal(derived, np.frombuffer(quants.IQ2_XXS.ksigns, dtype=np.uint8))
    popcount = np.unpackbits(derived[:, None], axis=1).sum(axis=1)
    assert (popcount % 2 == 0).all()


def test_importing_the_registry_builds_no_table():
    code = (
        "import sys\n"
        "from layoutscope.formats import iquants, _iq_tables\n"
        "assert len(iquants.TYPES) == 9\n"
        "assert 'gguf.quants' not in sys.modules, 'gguf.quants imported eagerly'\n"
        "assert _iq_tables.grid.cache_info().currsize == 0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
