"""The K-quant family: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights) and Q8_K (activations).

All six use 256-element super-blocks split into sub-blocks of 16 or 32 elements,
each with its own small integer scale (and, for Q2_K/Q4_K/Q5_K, a min) that is
multiplied by the block's fp16 ``d`` (and ``dmin``). Q8_K is what ggml
quantizes activations to for every K-quant and IQ dot product; it never holds
weights. Layouts follow ggml's ``ggml-common.h``. The dequantizers live in
``_kquant_decode`` and the per-element explanations in ``_kquant_anatomy``.
"""

from __future__ import annotations

from layoutscope.formats import _kquant_anatomy as anatomy
from layoutscope.formats import _kquant_decode as decode
from layoutscope.formats.record import Field, GGMLType
from layoutscope.formats.sizes import sizes_of

_D_SCALES = "super-block scale for the sub-block scales"
_D_MINS = "super-block scale for the sub-block mins"


def _k_quant(name, fields, description, dequantizer, anatomist) -> GGMLType:
    return GGMLType(
        sizes_of(name),
        vec_dot_type="Q8_K",
        fields=fields,
        description=description,
        family="k-quant",
        dequantizer=dequantizer,
        anatomist=anatomist,
    )


#: Q2_K: 16 sub-blocks of 16, 4-bit scale and min each, 2-bit codes.
Q2_K = _k_quant(
    "Q2_K",
    (
        Field(
            "scales", 0, 16, "uint8_t[16]",
            "per sub-block: 4-bit scale (low nibble) and 4-bit min (high nibble)",
        ),
        Field("qs", 16, 64, "uint8_t[64]", "2-bit codes, four per byte"),
        Field("d", 80, 2, "ggml_half", _D_SCALES),
        Field("dmin", 82, 2, "ggml_half", _D_MINS),
    ),
    "2-bit K-quant: 16 sub-blocks of 16 values, each with a 4-bit scale and a 4-bit min, "
    "so x = d·sc·q − dmin·m with q in 0..3 (2.625 bits per weight).",
    decode.dequantize_q2_k,
    anatomy.explain_q2_k,
)

#: Q3_K: 16 sub-blocks of 16, signed 6-bit scales, 3-bit codes split 2 + 1.
Q3_K = _k_quant(
    "Q3_K",
    (
        Field("hmask", 0, 32, "uint8_t[32]", "high bit of each 3-bit code (clear means subtract 4)"),
        Field("qs", 32, 64, "uint8_t[64]", "low 2 bits of the codes, four per byte"),
        Field("scales", 96, 12, "uint8_t[12]", "16 six-bit sub-block scales stored +32, packed"),
        Field("d", 108, 2, "ggml_half", "super-block scale"),
    ),
    "3-bit K-quant: 16 sub-blocks of 16 values with signed 6-bit scales and no min, "
    "so x = d·(sc − 32)·q with q in −4..3 (3.4375 bits per weight).",
    decode.dequantize_q3_k,
    anatomy.explain_q3_k,
)

#: Q4_K: 8 sub-blocks of 32, 6-bit scale and min each, 4-bit codes.
Q4_K = _k_quant(
    "Q4_K",
    (
        Field("d", 0, 2, "ggml_half", _D_SCALES),
        Field("dmin", 2, 2, "ggml_half", _D_MINS),
        Field("scales", 4, 12, "uint8_t[12]", "8 six-bit scales and 8 six-bit mins, packed"),
        Field("qs", 16, 128, "uint8_t[128]", "4-bit codes"),
    ),
    "4-bit K-quant: 8 sub-blocks of 32 values, each with a 6-bit scale and a 6-bit min, "
    "so x = d·sc·q − dmin·m with q in 0..15 (4.5 bits per weight).",
    decode.dequantize_q4_k,
    anatomy.explain_q4_k,
)

#: Q5_K: Q4_K plus a fifth code bit per element in qh.
Q5_K = _k_quant(
    "Q5_K",
    (
        Field("d", 0, 2, "ggml_half", _D_SCALES),
        Field("dmin", 2, 2, "ggml_half", _D_MINS),
        Field("scales", 4, 12, "uint8_t[12]", "8 six-bit scales and 8 six-bit mins, packed"),
        Field("qh", 16, 32, "uint8_t[32]", "5th (high) bit of the codes, eight per byte"),
        Field("qs", 48, 128, "uint8_t[128]", "low 4 bits of the codes"),
    ),
    "5-bit K-quant: 8 sub-blocks of 32 values, each with a 6-bit scale and a 6-bit min, "
    "so x = d·sc·q − dmin·m with q in 0..31 (5.5 bits per weight).",
    decode.dequantize_q5_k,
    anatomy.explain_q5_k,
)

#: Q6_K: 16 sub-blocks of 16, signed 8-bit scales, 6-bit codes split 4 + 2.
Q6_K = _k_quant(
    "Q6_K",
    (
        Field("ql", 0, 128, "uint8_t[128]", "low 4 bits of the codes"),
        Field("qh", 128, 64, "uint8_t[64]", "high 2 bits of the codes, four per byte"),
        Field("scales", 192, 16, "int8_t[16]", "signed 8-bit scale per sub-block of 16"),
        Field("d", 208, 2, "ggml_half", "super-block scale"),
    ),
    "6-bit K-quant: 16 sub-blocks of 16 values with signed 8-bit scales and no min, "
    "so x = d·sc·(q − 32) with q in 0..63 (6.5625 bits per weight).",
    decode.dequantize_q6_k,
    anatomy.explain_q6_k,
)

#: Q8_K: the activation format of K-quant and IQ dot products; not a weight type.
Q8_K = GGMLType(
    sizes_of("Q8_K"),
    vec_dot_type=None,
    fields=(
        Field(
            "d", 0, 4, "float",
            "block scale, f32 (negative when the largest-magnitude value is positive)",
        ),
        Field("qs", 4, 256, "int8_t[256]", "8-bit codes"),
        Field("bsums", 260, 32, "int16_t[16]", "sum of the codes of each group of 16, for dot products"),
    ),
    description=(
        "8-bit activation-only format: ggml converts activations to it for K-quant and IQ "
        "dot products, so it never stores weights; x = d·q with an f32 d per 256 values."
    ),
    family="k-quant",
    is_weight_type=False,
    dequantizer=decode.dequantize_q8_k,
    anatomist=anatomy.explain_q8_k,
)

#: The family's records, in id order, for the registry.
TYPES: tuple[GGMLType, ...] = (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K)
