"""The community backend's six pipelines, one record each (ORG's RK3588 configuration table).

A pipeline fixes the NPU types of A, B and C, the N alignment of a core's
segment, and whether K is rotated by the randomized Hadamard transform
before quantizing. :data:`PIPELINES` is the registry, in the backend's own
order; :data:`CLASSIC` names layoutscope's own schemes (not a community
pipeline) where a setting chooses between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The setting's value for today's schemes (``--mm``, ``--weight-quant``, ``--act-quant``), not a pipeline here.
CLASSIC = "classic"
#: K must be a multiple of this for every pipeline (ORG's k_align).
K_ALIGN = 32


@dataclass(frozen=True)
class Pipeline:
    """One pipeline: its name, the NPU types, the alignment of N, and the rotation."""

    name: str
    #: NPU element types of A (activations), B (weights) and C (output): ``fp16``/``int8``/``int4``, ``fp32``...
    a_type: str
    b_type: str
    c_type: str
    #: The RKNN matmul type the backend creates.
    rknn_type: str
    #: Each core's N segment is a multiple of this (16 FP16, 32 INT8, 64 INT4).
    n_align: int
    #: K is sign-flipped, zero-padded to a power of two and Walsh–Hadamard transformed.
    hadamard: bool

    @property
    def bits(self) -> int:
        """Bits of an A/B element: 16, 8 or 4."""
        return {"fp16": 16, "int8": 8, "int4": 4}[self.b_type]

    @property
    def qmax(self) -> int:
        """The largest integer code: 127 (INT8), 7 (INT4); 0 for FP16, which has no scale."""
        return {16: 0, 8: 127, 4: 7}[self.bits]

    @property
    def integer(self) -> bool:
        """Whether C is an exact integer product (INT8, INT4)."""
        return self.bits != 16


def _family(bits: int, a: str, c: str, rknn: str, align: int) -> dict[str, Pipeline]:
    prefix = f"W{bits}A{bits}"
    return {f"{prefix}_{kind}": Pipeline(f"{prefix}_{kind}", a, a, c, rknn, align, kind == "HADAMARD")
            for kind in ("STANDARD", "HADAMARD")}


#: Every pipeline by name, in the order of the backend's configuration table.
PIPELINES: dict[str, Pipeline] = {
    **_family(16, "fp16", "fp32", "RKNN_FLOAT16_MM_FLOAT16_TO_FLOAT32", 16),
    **_family(8, "int8", "int32", "RKNN_INT8_MM_INT8_TO_INT32", 32),
    **_family(4, "int4", "int16", "RKNN_INT4_MM_INT4_TO_INT16", 64),
}
#: The pipeline names, and the choices of a setting that also offers :data:`CLASSIC`.
PIPELINE_NAMES = tuple(PIPELINES)
PIPELINE_CHOICES = (CLASSIC, *PIPELINE_NAMES)


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called ``name`` (exact spelling, as ``RKNPU_HYBRID`` takes it); ValueError lists them."""
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; choose from {', '.join(PIPELINE_NAMES)}")
    return PIPELINES[name]
