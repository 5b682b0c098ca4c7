"""Turn nested results (dataclass dicts, numpy scalars, non-finite floats) into JSON-ready data, and write it."""

from __future__ import annotations

import math

import numpy as np


def jsonable(value):
    """A copy of ``value`` that ``json.dump`` accepts: numpy scalars and arrays become Python
    numbers and lists, tuples become lists, dict keys become strings, and inf/NaN become the
    strings "inf", "-inf" and "nan" (every JSON writer passes ``allow_nan=False``, so a raw
    non-finite float that skipped this fails loudly instead of writing bare ``NaN``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(stream, data) -> None:
    """``data`` as indented JSON and a newline; non-finite numbers are the strings "inf", "-inf", "nan"."""
    import json

    stream.write(json.dumps(jsonable(data), indent=2, allow_nan=False))
    stream.write("\n")
