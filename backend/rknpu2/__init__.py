"""The RKNPU2 matmul path: platform tables, requantization and native layouts.

``platforms`` holds what each Rockchip SoC's matmul API expects (native
tile shapes, alignment, K segmentation, supported matmul types);
``requantize`` turns float weights and activations into NPU codes plus
scales; ``layout`` packs and unpacks the tiled native buffers. Facts come
from ``shared/reference/rknpu2.md``; every undocumented behaviour is marked
UNCERTAIN where it is used.
"""

from .requantize import Requantized, Scheme, parse_scheme, requantize

__all__ = ["Requantized", "Scheme", "parse_scheme", "requantize"]
