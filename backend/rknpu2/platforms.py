"""What each Rockchip SoC's matmul API expects: tiles, alignment, K segments, types.

Sources: rknn_matmul_api.h 2.3.2 and the RKNN SDK user guide 2.3.0 (via
``shared/reference/rknpu2.md`` §2). Where sources conflict the header wins;
where they are silent the table says UNCERTAIN and the real runtime's
``io_attr`` dims decide on the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import lcm
from typing import Optional


@dataclass(frozen=True)
class MatmulType:
    """One ``rknn_matmul_type``: input dtypes of A and B and the output dtype of C."""

    name: str
    rknn_value: int
    rknn_name: str
    a_dtype: str
    b_dtype: str
    c_dtype: str
    exact: bool
    note: str = ""


#: The matmul types layoutscope models, by the option names of ``--mm``.
MATMUL_TYPES: dict[str, MatmulType] = {
    t.name: t
    for t in (
        MatmulType("int8", 2, "RKNN_INT8_MM_INT8_TO_INT32", "int8", "int8", "int32", True,
                   "exact integer products; K <= 10240 cannot overflow int32"),
        MatmulType("int8-fp32", 9, "RKNN_INT8_MM_INT8_TO_FLOAT32", "int8", "int8", "fp32", False,
                   "needs B quant params; reported to return zeros with per-channel/per-group B on runtime 2.3.2"),
        MatmulType("fp16", 1, "RKNN_FLOAT16_MM_FLOAT16_TO_FLOAT32", "fp16", "fp16", "fp32", False,
                   "accumulation precision is undocumented (emulated in fp32)"),
        MatmulType("fp16-fp16", 4, "RKNN_FLOAT16_MM_FLOAT16_TO_FLOAT16", "fp16", "fp16", "fp16", False,
                   "accumulation precision undocumented; C native layout undocumented (UNCERTAIN)"),
        MatmulType("int8-int8", 3, "RKNN_INT8_MM_INT8_TO_INT8", "int8", "int8", "int8", False,
                   "affine requantization of C; the hardware's rounding and saturation are unconfirmed (UNCERTAIN)"),
        MatmulType("int4", 10, "RKNN_INT4_MM_INT4_TO_INT16", "int4", "int4", "int16", True,
                   "int16 output can overflow when K > 511; wrap or saturate is undocumented (UNCERTAIN)"),
    )
}

#: C dtypes whose native layout no source documents; we assume the int32 cell (UNCERTAIN).
UNDOCUMENTED_C_LAYOUTS = frozenset({"fp16", "int8"})


@dataclass(frozen=True)
class Platform:
    """Layout rules of one SoC's NPU matmul.

    ``a_sub_k[dtype]``: A native is (K/subK, M, subK).
    ``b_tile[dtype]``: B native is (N/subN, K/subK, subN, subK) as ``(subN, subK)``.
    ``c_sub_n[dtype]``: C native is (N/subN, M, subN).
    ``k_segment``: K above this is split into separately tiled B segments.
    """

    name: str
    a_sub_k: dict
    b_tile: dict
    c_sub_n: dict
    k_align: dict
    n_align: dict
    k_segment: Optional[int]
    k_max: Optional[int]
    n_max: dict
    matmul_types: tuple
    notes: tuple = field(default=())
    #: NPU cores; with more than one, a matmul context is pinned to one (rknn_matmul_set_core_mask).
    npu_cores: int = 1

    def supports(self, mm: str) -> bool:
        """True when this SoC's runtime creates matmuls of type ``mm``."""
        return mm in self.matmul_types

    def matmul_type(self, mm: str) -> MatmulType:
        """The :class:`MatmulType` named ``mm``; ValueError if this SoC lacks it."""
        if mm not in MATMUL_TYPES:
            raise ValueError(f"unknown matmul type {mm!r}; choose from {', '.join(MATMUL_TYPES)}")
        if not self.supports(mm):
            raise ValueError(
                f"{self.name} does not support matmul type {mm!r} "
                f"(it supports {', '.join(self.matmul_types)})"
            )
        return MATMUL_TYPES[mm]

    def c_cell(self, c_dtype: str) -> int:
        """subN of C's native layout for ``c_dtype`` (assumed for undocumented dtypes)."""
        return self.c_sub_n.get(c_dtype, self.c_sub_n["int32"])

    def padded_k(self, k: int, dtype: str) -> int:
        """K rounded up to what both A's and B's tiles and the alignment need."""
        unit = lcm(self.k_align[dtype], self.a_sub_k[dtype], self.b_tile[dtype][1])
        return -(-k // unit) * unit

    def padded_n(self, n: int, dtype: str) -> int:
        """N rounded up to B's tile and the alignment."""
        unit = lcm(self.n_align[dtype], self.b_tile[dtype][0])
        return -(-n // unit) * unit

    def k_segments(self, k: int) -> list[tuple[int, int]]:
        """``[(start, stop), ...]`` of B's K segments (one segment when K fits).

        UNCERTAIN: segment sizes beyond the first are undocumented (the header's
        worked example is arithmetically wrong); we use full ``k_segment``
        pieces and a remainder.
        """
        if self.k_segment is None or k <= self.k_segment:
            return [(0, k)]
        return [(s, min(s + self.k_segment, k)) for s in range(0, k, self.k_segment)]


_RK3588_TILES = dict(
    a_sub_k={"int8": 16, "fp16": 8, "int4": 32},
    b_tile={"int8": (32, 32), "fp16": (16, 32), "int4": (64, 32)},
    c_sub_n={"int32": 4, "fp32": 4, "int16": 8},
    k_align={"int8": 32, "fp16": 32, "int4": 32},
    n_align={"int8": 32, "fp16": 16, "int4": 64},
)

PLATFORMS: dict[str, Platform] = {
    "rk3588": Platform(
        name="rk3588",
        **_RK3588_TILES,
        k_segment=8192,
        k_max=None,
        n_max={"int8": 4096, "fp16": 4096, "int4": 8192},
        matmul_types=("int8", "int8-fp32", "fp16", "fp16-fp16", "int8-int8", "int4"),
        npu_cores=3,
        notes=(
            "mixed-type matmuls (FP16×INT8, FP16×INT4, INT8×INT4) are rejected on RK3588 (third-party probe, runtime 2.3.2)",
            "N <= 4096 (int8/fp16) and N <= 8192 (int4) per the user guide; not confirmed on the board (UNCERTAIN)",
        ),
    ),
    "rk3576": Platform(
        name="rk3576",
        **_RK3588_TILES,
        k_segment=4096,
        k_max=None,
        n_max={"int8": 4096, "fp16": 4096, "int4": 8192},
        matmul_types=("int8", "fp16", "fp16-fp16"),
        npu_cores=2,
        notes=("RK3576 also has mixed-type matmuls (FP16×INT8, FP16×INT4, INT8×INT4), not modelled here",),
    ),
    "rk3566": Platform(
        name="rk3566",
        a_sub_k={"int8": 8, "fp16": 4},
        b_tile={"int8": (16, 32), "fp16": (8, 16)},
        c_sub_n={"int32": 4, "fp32": 4},
        k_align={"int8": 32, "fp16": 16},
        n_align={"int8": 16, "fp16": 8},
        k_segment=None,
        k_max=10240,
        n_max={"int8": 4096, "fp16": 4096},
        matmul_types=("int8", "fp16"),
        notes=("no int4; no TP_NORM B layout",),
    ),
    "rk3562": Platform(
        name="rk3562",
        a_sub_k={"int8": 16, "fp16": 8},
        b_tile={"int8": (16, 32), "fp16": (8, 32)},
        c_sub_n={"int32": 4, "fp32": 4},
        k_align={"int8": 32, "fp16": 32},
        n_align={"int8": 16, "fp16": 8},
        k_segment=None,
        k_max=10240,
        n_max={"int8": 4096, "fp16": 4096},
        matmul_types=("int8", "fp16"),
        notes=("no int4",),
    ),
}
PLATFORMS["rk3568"] = Platform(**{**PLATFORMS["rk3566"].__dict__, "name": "rk3568"})

#: The default platform.
DEFAULT_PLATFORM = "rk3588"


def get_platform(name: str) -> Platform:
    """The platform called ``name`` (case-insensitive); ValueError lists the known ones."""
    key = name.strip().lower()
    if key not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r}; choose from {', '.join(PLATFORMS)}")
    return PLATFORMS[key]
