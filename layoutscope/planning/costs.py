"""The community pipelines from cheapest to dearest, and what a HADAMARD pipeline costs the CPU per token.

The planner tries a unit's pipelines in :data:`CHEAPEST_FIRST` order: fewer
bits first (INT4 < INT8 < FP16: less memory traffic and more NPU throughput),
and at equal bits STANDARD before HADAMARD, because the rotation runs on the
CPU. Per token and per HADAMARD weight, the backend flips the signs of the K
activations, zero-pads them to the next power of two P, runs an
unnormalized fast Walsh–Hadamard transform (P·log2 P additions and
subtractions), and divides the N outputs by P.
"""

from __future__ import annotations

from typing import Iterable

from layoutscope.backend.community.pipelines import PIPELINES

#: Every community pipeline, cheapest first.
CHEAPEST_FIRST = tuple(sorted(PIPELINES, key=lambda name: (PIPELINES[name].bits, PIPELINES[name].hadamard)))


def cheapest_first(pipelines: Iterable[str]) -> tuple[str, ...]:
    """``pipelines`` (canonical names) in :data:`CHEAPEST_FIRST` order, each once."""
    wanted = set(pipelines)
    return tuple(name for name in CHEAPEST_FIRST if name in wanted)


def padded(k: int) -> int:
    """K zero-padded to the next power of two, as the rotation needs."""
    return 1 << max(0, int(k) - 1).bit_length()


def hadamard_ops_per_token(k: int, n: int) -> int:
    """CPU operations one HADAMARD matmul adds per token: K sign flips, the P·log2 P transform, N divisions."""
    p = padded(k)
    return int(k) + p * (p.bit_length() - 1) + int(n)
