"""The community backend's names and choices, without numpy: what settings and ``--help`` list.

:data:`CLASSIC` is layoutscope's own schemes (``--mm``, ``--weight-quant``,
``--act-quant``); every other pipeline choice is a community pipeline.
:data:`COMMUNITY_OPTIONS` maps each fork option to its choices (a tuple) or
its kind (``float`` factor in (0, 1], ``int`` seed); the options are
documented on :mod:`.options`.
"""

from __future__ import annotations

from .pipelines import CLASSIC, PIPELINE_CHOICES, PIPELINE_NAMES

CALIBRATIONS = ("max", "percentile", "mse")
INT8_WEIGHT_SCALES = ("per-channel", "per-block")
INT4_WEIGHT_SCALES = ("block-kl", "per-channel-amax")
HADAMARD_LAYOUTS = ("padded", "block-diagonal")
ACTIVATION_ROUNDINGS = ("half-away", "half-even")
#: What ORG's INT8 quantizer does past ±127 is UNCONFIRMED (its source was not available); the forks differ.
CLIPPED_WEIGHTS = ("clamp", "saturate", "wrap")
RESCALE_ORDERS = ("org", "inv")
#: UNCONFIRMED: whether the NPU saturates or wraps an INT4 product's int16 C (saturate is assumed by default).
INT4_OVERFLOWS = ("saturate", "wrap")
#: UNCONFIRMED: the calibration searches' int8 cast before the clamp (C++ UB; GCC/AArch64 wraps, the default).
SEARCH_CASTS = ("wrap", "clamp")

#: Every fork option: its choices (the first is ORG's default), or ``float``/``int`` for a factor or the seed.
COMMUNITY_OPTIONS: dict = {
    "w8_calib": CALIBRATIONS,
    "int8_weight_scale": INT8_WEIGHT_SCALES,
    "int4_weight_scale": INT4_WEIGHT_SCALES,
    "hadamard_blocks": HADAMARD_LAYOUTS,
    "weight_clip": float,
    "activation_clip": float,
    "activation_rounding": ACTIVATION_ROUNDINGS,
    "clipped_weights": CLIPPED_WEIGHTS,
    "rescale_order": RESCALE_ORDERS,
    "int4_overflow": INT4_OVERFLOWS,
    "search_cast": SEARCH_CASTS,
    "seed": int,
}
