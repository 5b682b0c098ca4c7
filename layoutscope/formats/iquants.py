"""The IQ ("importance-weighted") ggml types: IQ1_S/M, IQ2_XXS/XS/S, IQ3_XXS/S, IQ4_NL/XS.

Most of them store, per group of 4 or 8 values, an index into a lattice grid
of magnitudes plus sign bits, under small group scales and an fp16 scale;
IQ4_NL and IQ4_XS store 4-bit codes into a fixed non-linear table. The
grids are loaded lazily from gguf-py on the first dequantize or anatomy
call (see ``_iq_tables``), so importing the registry stays cheap.
"""

from __future__ import annotations

from layoutscope.formats import _iq_anatomy as anatomy
from layoutscope.formats import _iq_decode as decode
from layoutscope.formats.record import Field, GGMLType
from layoutscope.formats.sizes import sizes_of


_SPLIT_SCALES = "one byte per 32 values: low nibble scales the first 16, high nibble the last 16"


def _d(meaning: str = "fp16 super-block scale") -> Field:
    return Field("d", 0, 2, "ggml_half", meaning)


def _iq(name, vec_dot, description, fields, dequantizer, anatomist):
    return GGMLType(
        sizes_of(name),
        vec_dot_type=vec_dot,
        fields=tuple(fields),
        description=description,
        family="i-quant",
        dequantizer=dequantizer,
        anatomist=anatomist,
    )


#: The IQ2_XXS record.
IQ2_XXS = _iq(
    "IQ2_XXS", "Q8_K",
    "2.06 bpw: 8-value groups chosen from a 256-entry lattice grid, "
    "with 7-bit sign codes and a 4-bit scale per 32 values",
    [
        _d(),
        Field(
            "qs", 2, 64, "uint16_t[32]",
            "8 groups of 8 bytes, one per 32 values: 4 grid-index bytes (iq2xxs_grid), "
            "then a u32 holding four 7-bit sign indices (ksigns_iq2xs) and the 4-bit scale in bits 28..31",
        ),
    ],
    decode.dequantize_iq2_xxs,
    anatomy.anatomy_iq2_xxs,
)

#: The IQ2_XS record.
IQ2_XS = _iq(
    "IQ2_XS", "Q8_K",
    "2.31 bpw: 8-value groups chosen from a 512-entry lattice grid, "
    "with 7-bit sign codes and a 4-bit scale per 16 values",
    [
        _d(),
        Field(
            "qs", 2, 64, "uint16_t[32]",
            "one u16 per 8 values: bits 0..8 index iq2xs_grid, bits 9..15 index ksigns_iq2xs",
        ),
        Field("scales", 66, 8, "uint8_t[8]", _SPLIT_SCALES),
    ],
    decode.dequantize_iq2_xs,
    anatomy.anatomy_iq2_xs,
)

#: The IQ3_XXS record.
IQ3_XXS = _iq(
    "IQ3_XXS", "Q8_K",
    "3.06 bpw: 4-value groups chosen from a 256-entry lattice grid, "
    "with 7-bit sign codes and a 4-bit scale per 32 values",
    [
        _d(),
        Field(
            "qs", 2, 96, "uint8_t[96]",
            "bytes 0..63: one iq3xxs_grid index per 4 values; bytes 64..95: one u32 per 32 values "
            "with four 7-bit sign indices (ksigns_iq2xs) and the 4-bit scale in bits 28..31",
        ),
    ],
    decode.dequantize_iq3_xxs,
    anatomy.anatomy_iq3_xxs,
)

#: The IQ1_S record.
IQ1_S = _iq(
    "IQ1_S", "Q8_K",
    "1.56 bpw: 8-value groups of −1/0/+1 chosen from a 2048-entry grid, "
    "shifted by ±1/8, with a 3-bit scale per 32 values",
    [
        _d(),
        Field("qs", 2, 32, "uint8_t[32]", "low 8 bits of one iq1s_grid index per 8 values"),
        Field(
            "qh", 34, 16, "uint16_t[8]",
            "one u16 per 32 values: four 3-bit index high parts (bits 0..11), "
            "the 3-bit scale (bits 12..14) and the delta sign (bit 15)",
        ),
    ],
    decode.dequantize_iq1_s,
    anatomy.anatomy_iq1_s,
)

#: The IQ4_NL record.
IQ4_NL = _iq(
    "IQ4_NL", "Q8_0",
    "4.5 bpw: 4-bit codes into a fixed non-linear table of 16 levels, one fp16 scale per 32 values",
    [
        _d("fp16 block scale"),
        Field(
            "qs", 2, 16, "uint8_t[16]",
            "kvalues_iq4nl codes: low nibbles are values 0..15, high nibbles 16..31",
        ),
    ],
    decode.dequantize_iq4_nl,
    anatomy.anatomy_iq4_nl,
)

#: The IQ3_S record.
IQ3_S = _iq(
    "IQ3_S", "Q8_K",
    "3.44 bpw: 4-value groups chosen from a 512-entry lattice grid, "
    "with explicit sign bits and a 4-bit scale per 32 values",
    [
        _d(),
        Field("qs", 2, 64, "uint8_t[64]", "low 8 bits of one iq3s_grid index per 4 values"),
        Field(
            "qh", 66, 8, "uint8_t[8]",
            "one byte per 32 values: bit t is index bit 8 of its t-th group of 4",
        ),
        Field("signs", 74, 32, "uint8_t[32]", "one sign bit per value (set: negative)"),
        Field("scales", 106, 4, "uint8_t[4]", "one nibble per 32 values, s; the group scale is d·(1 + 2s)"),
    ],
    decode.dequantize_iq3_s,
    anatomy.anatomy_iq3_s,
)

#: The IQ2_S record.
IQ2_S = _iq(
    "IQ2_S", "Q8_K",
    "2.56 bpw: 8-value groups chosen from a 1024-entry lattice grid, "
    "with explicit sign bytes and a 4-bit scale per 16 values",
    [
        _d(),
        Field(
            "qs", 2, 64, "uint8_t[64]",
            "bytes 0..31: low 8 bits of one iq2s_grid index per 8 values; "
            "bytes 32..63: one sign byte per 8 values (bit set: negative)",
        ),
        Field(
            "qh", 66, 8, "uint8_t[8]",
            "one byte per 32 values: index bits 8..9 of each group of 8, 2 bits apiece",
        ),
        Field("scales", 74, 8, "uint8_t[8]", _SPLIT_SCALES),
    ],
    decode.dequantize_iq2_s,
    anatomy.anatomy_iq2_s,
)

#: The IQ4_XS record.
IQ4_XS = _iq(
    "IQ4_XS", "Q8_K",
    "4.25 bpw: 4-bit codes into the IQ4_NL non-linear table, "
    "with a 6-bit scale per 32 values under an fp16 super-scale",
    [
        _d(),
        Field("scales_h", 2, 2, "uint16_t", "bits 4..5 of the 8 sub-block scales, 2 bits each"),
        Field("scales_l", 4, 4, "uint8_t[4]", "bits 0..3 of the 8 sub-block scales, a nibble each"),
        Field(
            "qs", 8, 128, "uint8_t[128]",
            "kvalues_iq4nl codes, 16 bytes per 32 values: low nibbles are values 0..15, high nibbles 16..31",
        ),
    ],
    decode.dequantize_iq4_xs,
    anatomy.anatomy_iq4_xs,
)

#: The IQ1_M record.
IQ1_M = _iq(
    "IQ1_M", "Q8_K",
    "1.75 bpw: 8-value groups of −1/0/+1 chosen from a 2048-entry grid, shifted by ±1/8, "
    "with a 3-bit scale per 16 values; the fp16 super-scale is spread over the scale words",
    [
        Field("qs", 0, 32, "uint8_t[32]", "low 8 bits of one iq1s_grid index per 8 values"),
        Field(
            "qh", 32, 16, "uint8_t[16]",
            "one nibble per 8 values: index bits 8..10 and the delta sign (bit 3)",
        ),
        Field(
            "scales", 48, 8, "uint16_t[4]",
            "bits 0..11 of each u16: four 3-bit scales, one per 16 values; "
            "bits 12..15 of the four words: the fp16 super-scale, low nibble first",
        ),
    ],
    decode.dequantize_iq1_m,
    anatomy.anatomy_iq1_m,
)

#: Every IQ record, in id order.
TYPES = (IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, IQ1_M)
