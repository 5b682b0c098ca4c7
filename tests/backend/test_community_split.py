"""How a matmul is cut: the fact sheet's examples, the SoCs, the cores, the eligible types."""

from __future__ import annotations

import pytest

from layoutscope.backend.community import split
from layoutscope.backend.community.eligibility import eligible
from layoutscope.backend.community.pipelines import PIPELINES


@pytest.mark.parametrize("name, sizes", [("W16A16_STANDARD", [688, 688, 672]), ("W8A8_STANDARD", [704, 672, 672]),
                                         ("W4A4_HADAMARD", [704, 704, 640])])
def test_n_segments_of_2048_on_three_cores(name, sizes):
    assert split.n_segments(2048, 3, PIPELINES[name].n_align) == sizes


def test_k_segments_with_and_without_hadamard():
    assert split.k_segments(10240, 8192) == [8192, 2048]
    assert split.k_segments(split.next_pow2(10240), 8192) == [8192, 8192]
    assert split.k_segments(4096, 8192) == [4096]
    assert split.k_segments(4160, 4096) == [4096, 64]


def test_small_n_drops_empty_segments_and_an_unaligned_n_keeps_its_rest():
    assert split.n_segments(128, 3, 64) == [64, 64]
    assert split.n_segments(1000, 3, 64) == [320, 320, 320, 40]  # the backend would refuse N=1000


@pytest.mark.parametrize("m, align, m_op", [(1, 64, 1), (2, 64, 64), (65, 64, 128), (65, 0, 128), (100, -1, 128)])
def test_m_op(m, align, m_op):
    assert split.m_op(m, align) == m_op


def test_cores_and_socs():
    assert split.parse_cores("2,0-1,1", (0,)) == (0, 1, 2)
    assert split.parse_cores("auto", (0, 1)) == (0, 1)
    assert split.soc("RK3588") == (8192, (0, 1, 2)) and split.soc("rk3576") == (4096, (0, 1))
    with pytest.raises(ValueError, match="rk3588 and rk3576"):
        split.soc("rk3566")
    with pytest.raises(ValueError, match="core ids"):
        split.parse_cores("0,x", (0,))


def test_only_f16_q8_0_q6_k_and_q4_0_are_offloaded():
    assert [eligible(t)[0] for t in ("F16", "Q8_0", "Q6_K", "Q4_0")] == [True] * 4
    ok, why = eligible("Q4_K")
    assert not ok and "Q4_K" in why and "CPU" in why and "RKNPU_HYBRID" in why
