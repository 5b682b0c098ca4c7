"""Which weights the backend offloads at all (fact sheet §1): MUL_MAT weights of type F16, Q8_0, Q6_K or Q4_0.

Those are the only types with a default pipeline pattern, and the backend
returns no pattern for any other type even when ``RKNPU_HYBRID`` is set, so
Q4_K, Q5_*, BF16 and F32 weights always stay on the CPU. The emulator does
not refuse them (a user may ask "what if"); the hybrid prediction does.
"""

from __future__ import annotations

#: The weight types with a default pipeline pattern (ORG's ``get_active_pattern``).
ELIGIBLE_TYPES = ("F16", "Q8_0", "Q6_K", "Q4_0")


def eligible(type_name: str) -> tuple[bool, str]:
    """``(True, "")`` when the backend can offload a weight of ``type_name``, else ``(False, why)``."""
    if type_name in ELIGIBLE_TYPES:
        return True, ""
    return False, (f"the community backend keeps {type_name} weights on the CPU: only "
                   f"{', '.join(ELIGIBLE_TYPES)} have a pipeline pattern, even with RKNPU_HYBRID set")
