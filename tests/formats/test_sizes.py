"""The size table: the names and sizes a file is opened with, written once and agreeing with ggml.

The reader places tensors and the TUI draws its tree from :mod:`layoutscope.formats.sizes`
alone; the registry's records read their names and sizes from it. Both must say what
ggml's own type traits say, id by id.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from layoutscope.formats import TYPE_COUNT, ggml_type
from layoutscope.formats.sizes import TypeSize, all_sizes, sizes_of

SIZES = all_sizes()


def test_the_table_lists_every_id_below_type_count_once():
    assert [s.id for s in SIZES] == list(range(TYPE_COUNT))
    assert len({s.name for s in SIZES}) == TYPE_COUNT


@pytest.mark.parametrize("s", SIZES, ids=[s.name for s in SIZES])
def test_the_table_says_what_ggml_says(s, ggml):
    traits = ggml.traits(s.id)
    if s.removed:
        assert (s.block_size, s.type_size, traits.block_size) == (0, 0, 0) and s.replaced_by
        return
    assert (s.name.lower(), s.block_size, s.type_size, s.is_quantized) == (
        traits.name.lower(), traits.block_size, traits.type_size, traits.is_quantized)


@pytest.mark.parametrize("s", SIZES, ids=[s.name for s in SIZES])
def test_each_record_takes_its_name_and_sizes_from_the_table(s):
    record = ggml_type(s.id)
    assert record.sizes is s
    assert (record.id, record.name, record.block_size, record.type_size, record.is_quantized, record.removed,
            record.replaced_by, record.known) == (s.id, s.name, s.block_size, s.type_size, s.is_quantized,
                                                  s.removed, s.replaced_by, s.known)
    assert ggml_type(s.name) is record


@pytest.mark.parametrize("key", ["Q4_K", "q4_k", " Q4_K ", "12", 12])
def test_a_type_is_found_by_name_or_id(key):
    assert sizes_of(key) == TypeSize(12, "Q4_K", 256, 144, True)


def test_an_id_beyond_the_table_is_unknown_and_a_bad_name_or_negative_id_is_refused():
    s = sizes_of(57)
    assert (s.name, s.known, s.has_layout) == ("unknown(57)", False, False)
    assert "57" in s.unavailable_reason() and ggml_type(57).sizes == s
    with pytest.raises(KeyError, match="Q8_0"):
        sizes_of("Q9_9")
    with pytest.raises(KeyError):
        sizes_of(-1)


def test_a_removed_id_says_what_to_use_instead():
    s = sizes_of(36)
    assert s.removed and not s.has_layout and "IQ4_NL" in s.unavailable_reason()


def test_the_table_loads_without_numpy_or_the_registry():
    code = ("import sys, layoutscope.formats.sizes; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy' or m.endswith('formats.registry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
