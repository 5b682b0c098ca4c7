"""The forks of the backend, as options of the same pipeline: one frozen record, each option named after what it does.

Defaults follow ORG (ggml-org/llama.cpp @56c5133b); the other values are
what a fork does (fact sheet §8):

* ``w8_calib`` — the INT8 weight amax (``RKNPU_W8_CALIB``): ``max`` (ORG
  default), ``percentile`` (99.9) or ``mse``. INT8 weights only.
* ``int8_weight_scale`` — ``per-channel``: one scale per (K segment, output
  channel) (ORG, INV-perchan); ``per-block``: one per (K segment, core
  segment) block, amax/127 from the block's max (INV-block c9b63b83).
* ``int4_weight_scale`` — ``block-kl``: one scale per (K segment, core
  segment) block from the KL search (ORG, INV-block); ``per-channel-amax``:
  one per (K segment, output channel), amax/7 (INV-perchan 39bb8e92, pty819; UNI).
* ``hadamard_blocks`` — ``padded``: one transform of next_pow2(K), output
  divided by it (ORG); ``block-diagonal``: transforms of the largest power
  of two dividing K, K unchanged, divided by the block (UNI).
* ``weight_clip`` / ``activation_clip`` — INT4 scales are clip·amax/7
  (UNI's B_CLIP 0.93 and A_CLIP 0.9; 1.0 everywhere else). INT4 only.
* ``activation_rounding`` — INT8 activations: ``half-away`` (ORG) or
  ``half-even`` (pty819's ``vcvtnq``, saturated to ±127).
* ``clipped_weights`` — what the INT8 weight quantizer does with a value past
  ±127 (percentile/mse clip): ``clamp`` to ±127 (marfrit), ``saturate`` to
  [−128, 127] (INV c9b63b83), ``wrap`` mod 256 (UNI 0d615190). ORG's
  quantizer is UNCONFIRMED.
* ``rescale_order`` — the float32 factor of C: ``org`` sB·(sA/hdiv), ``inv``
  (sA·sB)/hdiv (INV, pty819).
* ``int4_overflow`` — the NPU's int16 C when Σ a·w leaves int16:
  ``saturate`` or ``wrap``. UNCONFIRMED.
* ``search_cast`` — the int8 cast before the clamp in the mse/KL searches:
  ``wrap`` mod 256 (GCC/AArch64) or ``clamp``. UNCONFIRMED.
* ``seed`` — the sign vectors' seed (upstream uses the tensor's address,
  which no run reproduces); each tensor's vector comes from (seed, name).

Not modelled: the low-rank pipelines (INV e8604563), UNI's shared signs and
native A/C layout, FP16 accumulation other than float32.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .names import COMMUNITY_OPTIONS
#: How C of FP16 pipelines accumulates: float32. UNCONFIRMED (the NPU's internal precision is undocumented).
FP16_ACCUMULATION = "float32"

#: What could not be confirmed, by key; a result lists the keys that apply to its run (``details["unconfirmed"]``).
UNCONFIRMED = {
    "int4-overflow": "INT4 C is int16 and Σ a·w can leave it: the NPU may saturate or wrap (modelled: {int4_overflow})",
    "fp16-accumulation": "FP16 products accumulate in float32 here; the NPU's internal precision is undocumented",
    "search-cast": "the mse/KL searches cast to int8 before clamping (C++ UB; modelled: {search_cast})",
    "clipped-weights": "ORG's quantizer source is unavailable: clipped INT8 weights modelled as {clipped_weights}",
    "signs": "upstream seeds the signs with the tensor's address, not reproducible: seed {seed} stands in for it",
    "dequantize": "ggml's dequantize_row and the reader's dequantizer are assumed bit-identical",
    "fma": "the rescale is a multiply then an add; whether the compiler fuses them is unknown (at most 1 ulp)",
    "hybrid-order": "the order in which tensors get their RKNPU_HYBRID sequence numbers",
}


def _check(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name.replace('_', '-')} {value!r}: choose from {', '.join(choices)}")


@dataclass(frozen=True)
class CommunityOptions:
    """Every fork option of a pipeline (see the module docstring); the defaults are ORG's."""

    w8_calib: str = "max"
    int8_weight_scale: str = "per-channel"
    int4_weight_scale: str = "block-kl"
    hadamard_blocks: str = "padded"
    weight_clip: float = 1.0
    activation_clip: float = 1.0
    activation_rounding: str = "half-away"
    clipped_weights: str = "clamp"
    rescale_order: str = "org"
    int4_overflow: str = "saturate"
    search_cast: str = "wrap"
    seed: int = 0

    def __post_init__(self):
        for name, choices in COMMUNITY_OPTIONS.items():
            if isinstance(choices, tuple):
                _check(name, getattr(self, name), choices)
        for name in ("weight_clip", "activation_clip"):
            value = getattr(self, name)
            if not 0 < float(value) <= 1:
                raise ValueError(f"{name.replace('_', '-')} {value!r}: a factor above 0 and at most 1")
        if not 0 <= int(self.seed) < 2**64:
            raise ValueError(f"seed {self.seed!r}: a whole number from 0 to 2**64-1")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict:
        """Plain data."""
        return asdict(self)
