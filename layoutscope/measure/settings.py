"""Validators for every user-settable value, shared by the CLI options and the TUI settings.

Each validator takes the text a user typed and a ``label`` naming where it was
typed (``--weight-quant`` on the command line, ``weights`` in the TUI), and
returns the parsed value or raises :class:`OptionError`: one line naming the
label, the value (escaped and cut to 80 characters) and what is accepted.
Validation is syntactic and bounded here; what depends on a model (a token id
inside the vocabulary, a .npy's width) is checked where the model is known.

Only the standard library is imported, so ``--help`` stays light.
"""

from __future__ import annotations

import math
import os
import re
from typing import Optional

from layoutscope.errors import UsageError
from layoutscope.formats.threads import threads_from_env  # noqa: F401 - the CLI checks it with the others
from layoutscope.gguf.filekind import not_regular
from layoutscope.errors import quoted, quoted_path

#: ASCII digits only: ``str.isdigit`` also accepts '³' and other digits ``int`` refuses.
_DIGITS = re.compile(r"[0-9]+")
#: Largest seed numpy's generators take as one 64-bit word.
MAX_SEED = 2**64 - 1
#: Largest token id accepted by syntax (ggml's token ids are int32).
MAX_TOKEN_ID = 2**31 - 1
#: per-group:G bounds: a group is a run of K, and no model's K is near this.
MAX_GROUP = 1 << 20
#: fixed:R bounds: 127/R and R itself must be normal float32 numbers.
CLAMP_RANGE = (1e-30, 1e30)

PLATFORM_NAMES = ("rk3588", "rk3576", "rk3566", "rk3568", "rk3562")
MM_NAMES = ("int8", "int8-fp32", "fp16", "fp16-fp16", "int8-int8", "int4")
WEIGHT_SCHEME_FORMS = "per-channel, per-tensor, per-group:G or fixed"
ACT_SCHEME_FORMS = "per-tensor, per-token or fixed:R"
INPUT_FORMS = "random[:SEED], tokens:ID,ID,... or a PATH.npy"
RANGE_FORMS = "A:B, A:, :B, : or A (whole numbers; negative ones count from the end, so -1: is the last)"
#: Largest thread or job count accepted (far beyond any core count; bounds a typo like 10000000).
MAX_THREADS = 1024
#: Byte-size suffixes (binary multiples) for LAYOUTSCOPE_MEMORY_LIMIT.
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"([0-9]{1,20})\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_INDEX = re.compile(r"-?[0-9]{1,20}")


class OptionError(UsageError):
    """A value that cannot be used for an option or setting; the message says which, why and what works."""


def invalid(label: str, text: object, why: str, path: bool = False) -> OptionError:
    """The :class:`OptionError` for ``text`` given as ``label``: ``--mm 'int9': choose from …``.

    A ``path`` is clipped from the front, keeping the file name.
    """
    return OptionError(f"{label} {quoted_path(text) if path else quoted(text)}: {why}")


def whole_number(text: str, label: str, minimum: int = 0, maximum: Optional[int] = None,
                 example: str = "", whole: Optional[str] = None) -> int:
    """``text`` as an int in [minimum, maximum], written with ASCII digits (a leading '-' only if minimum < 0).

    ``whole`` is the user's whole value when ``text`` is a part of it (the G of per-group:G); messages echo it.
    """
    raw = str(text).strip()
    text = text if whole is None else whole
    # A '-' is read even when negatives are out of range, so -5 is "out of range", not "not a number".
    negative = raw.startswith("-")
    digits = raw[1:] if negative else raw
    bound = f" from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
    hint = f", e.g. {example}" if example else ""
    if not _DIGITS.fullmatch(digits) or len(digits) > 40:
        raise invalid(label, text, f"expected a whole number{bound}{hint}")
    value = -int(digits) if negative else int(digits)
    if value < minimum or (maximum is not None and value > maximum):
        raise invalid(label, text, f"out of range: use a whole number{bound}{hint}")
    return value


def positive_float(text: str, label: str, low: float = 0.0, high: float = math.inf, example: str = "") -> float:
    """``text`` as a finite float with low < value ≤ high."""
    hint = f", e.g. {example}" if example else ""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise invalid(label, text, f"expected a number{hint}") from None
    if not math.isfinite(value) or not low < value <= high:
        bounds = f"above {low:g}" + ("" if high == math.inf else f" and at most {high:g}")
        raise invalid(label, text, f"expected a finite number {bounds}{hint}")
    return value


def choice(text: str, label: str, choices: tuple) -> str:
    """``text`` when it is one of ``choices`` (case-insensitive), else an OptionError listing them."""
    value = str(text).strip().lower()
    if value not in choices:
        raise invalid(label, text, f"choose from {', '.join(choices)}")
    return value


def platform(text: str, label: str = "--platform") -> str:
    """An RKNPU2 platform name."""
    return choice(text, label, PLATFORM_NAMES)


def matmul_type(text: str, label: str = "--mm") -> str:
    """An NPU matmul type name."""
    return choice(text, label, MM_NAMES)


def _scheme(text: str, label: str, weight: bool) -> str:
    forms = WEIGHT_SCHEME_FORMS if weight else ACT_SCHEME_FORMS
    raw = str(text).strip().lower()
    kind, colon, arg = raw.partition(":")
    simple = ("per-channel", "per-tensor") if weight else ("per-tensor", "per-token")
    if kind in simple and not colon:
        return kind
    if weight and kind == "per-group":
        if not colon:
            raise invalid(label, text, "per-group needs a group size G, e.g. per-group:32")
        group = whole_number(arg, label, 1, MAX_GROUP, "per-group:32", whole=text)
        return f"per-group:{group}"
    if kind == "fixed":
        if weight:
            if colon:
                raise invalid(label, text, "fixed weights take no range (they clamp to ±1); use fixed")
            return "fixed"
        if not colon:
            raise invalid(label, text, "fixed activations need a clamp range R, e.g. fixed:4")
        low, high = CLAMP_RANGE
        try:
            clamp = float(arg)
        except ValueError:
            clamp = math.nan
        if not (math.isfinite(clamp) and low <= clamp <= high):
            raise invalid(label, text, f"fixed:R needs a range R from {low:g} to {high:g}, e.g. fixed:4")
        return f"fixed:{arg}"
    raise invalid(label, text, f"use {forms}")


def weight_scheme(text: str, label: str = "--weight-quant") -> str:
    """One weight requantization scheme, in canonical spelling."""
    return _scheme(text, label, weight=True)


def weight_schemes(text: str, label: str = "--weight-quant") -> tuple:
    """A comma-separated list of weight schemes (a sweep), each validated; duplicates refused."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts) or not all(parts):
        raise invalid(label, text, f"give one or more schemes separated by commas ({WEIGHT_SCHEME_FORMS})")
    schemes = tuple(weight_scheme(p, label) for p in parts)
    if len(set(schemes)) != len(schemes):
        raise invalid(label, text, "a scheme is listed twice")
    return schemes


def act_scheme(text: str, label: str = "--act-quant") -> str:
    """One activation requantization scheme, in canonical spelling."""
    return _scheme(text, label, weight=False)


def input_spec(text: str, label: str = "--input") -> str:
    """An activation source, checked for syntax: ``random[:SEED]``, ``tokens:ID,...`` or a path.

    A path must exist and be a regular file; the array itself is read when the
    model's K is known (:mod:`layoutscope.measure.inputs`).
    """
    raw = str(text).strip()
    if raw == "random":
        return raw
    if raw.startswith("random:"):
        whole_number(raw[7:], label, 0, MAX_SEED, "random:42", whole=text)
        return raw
    if raw.startswith("tokens:"):
        token_ids(raw, label)
        return raw
    if not raw:
        raise invalid(label, text, f"use {INPUT_FORMS}")
    if not os.path.exists(raw):
        if raw.endswith(".npy"):
            raise invalid(label, text, "no such .npy file", path=True)
        raise invalid(label, text, f"not an input form nor an existing file; use {INPUT_FORMS}")
    return regular_file(raw, label)


def token_ids(text: str, label: str = "--input") -> list:
    """The ids of a ``tokens:ID,ID,...`` spec (syntax and int32 range; the vocabulary is checked later)."""
    body = str(text).strip().partition(":")[2]
    parts = [p.strip() for p in body.split(",")]
    if not body.strip() or not all(parts):
        raise invalid(label, text, "give token ids separated by single commas, e.g. tokens:1,450,29871")
    return [whole_number(p, label, 0, MAX_TOKEN_ID, "tokens:1,450,29871", whole=text) for p in parts]


def memory_limit_from_env(name: str = "LAYOUTSCOPE_MEMORY_LIMIT") -> Optional[int]:
    """The memory limit in bytes an environment variable sets (None when unset); a bad value is an OptionError."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    return byte_size(text, name)


def byte_size(text: str, label: str) -> int:
    """``"123"``, ``"512K"``, ``"64M"``, ``"2G"`` or ``"1T"`` (binary multiples, ``B``/``iB`` optional) as bytes."""
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        raise invalid(label, text, "expected a size in bytes, optionally with K, M, G or T, e.g. 512M")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def regular_file(text: str, label: str) -> str:
    """``text`` when it names an existing regular file (symlinks followed), else an OptionError saying what it is.

    FIFOs, devices and /proc files are refused before anything opens them (a FIFO would block).
    """
    path = str(text)
    try:
        kind = not_regular(path)
    except FileNotFoundError:
        raise invalid(label, text, "no such file", path=True) from None
    except OSError as exc:
        raise invalid(label, text, f"cannot be read ({exc.strerror or exc})", path=True) from None
    if kind is not None:
        raise invalid(label, text, f"{kind}, not a regular file; give a .npy file saved with numpy.save", path=True)
    return path


def _range_bounds(text: str, label: str) -> tuple:
    """``(start, stop)`` of a range's syntax, None where a side is empty; ``stop`` is ``"single"`` for ``A``."""
    raw = str(text).strip()
    parts = raw.split(":")
    if len(parts) > 2 or not all(_INDEX.fullmatch(p.strip()) for p in parts if p.strip()):
        raise invalid(label, text, f"expected {RANGE_FORMS}")
    if len(parts) == 1:
        if not raw:
            raise invalid(label, text, f"expected {RANGE_FORMS}")
        return int(raw), "single"
    start, stop = (int(p) if p.strip() else None for p in parts)
    return start, stop


def index_range(text: str, label: str) -> str:
    """``text`` when it is a range's syntax (``A:B``, ``A:``, ``:B``, ``:`` or ``A``); resolved by :func:`parse_range`."""
    _range_bounds(text, label)
    return str(text).strip()


def parse_range(text: Optional[str], size: int, what: str, default: int = 8) -> range:
    """``text`` (see :func:`index_range`) as a range within ``0..size-1``; without ``text``, the first ``default``.

    Negative values count from the end, as in Python (``-1:`` is the last). A
    stop past the end is cut to ``size``; a start outside, or an empty range,
    is an OptionError. ``what`` is the option (``rows`` or ``--rows``).
    """
    label = what if what.startswith("-") else f"--{what}"
    noun = label.lstrip("-")
    if text is None:
        return range(0, min(default, size))
    start, stop = _range_bounds(text, label)
    span = f"{noun} are 0..{size - 1}, or -{size}..-1 from the end" if size else f"there are no {noun}"
    first = start if start is not None else 0
    if first < 0:
        first += size
    if not 0 <= first < size:
        raise invalid(label, text, f"outside the {size} {noun} ({span})")
    if stop == "single":
        return range(first, first + 1)
    end = size if stop is None else (stop + size if stop < 0 else stop)
    end = min(end, size)
    if end <= first:
        raise invalid(label, text, f"selects no {noun}: the end must come after the start ({span})")
    return range(first, end)


def position(text: str, label: str = "--at") -> tuple:
    """``"ROW,COL"`` as two ints; negative values count from the end (resolved where the tensor is known)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(_INDEX.fullmatch(p) for p in parts):
        raise invalid(label, text, "expected ROW,COL, e.g. --at 3,100 (negative values count from the end)")
    return int(parts[0]), int(parts[1])

