"""The run settings: one record declares every setting once, and the validators it is made of.

:class:`RunSettings` is what a matmul (or a scan of many) runs with: the NPU
side and the reference, the NPU pipeline (platform, matmul type, weight and
activation schemes), the input X, the verdict threshold, the NPU core and
the CPU threads. Each field carries its whole declaration (:class:`Setting`):
its default, help text, choices (taken from the backend's own tables), the
validator, the command-line flag and metavar, and the TUI dialog's label.
The command line's options and ``--help`` (:mod:`layoutscope.cli.parser`),
``RunSettings.from_args``, the TUI's settings dialog
(:mod:`layoutscope.measure.settings_form`, ``tui/screens/settings.py``) and
the messages that name a setting are all made from it.

**Adding a setting** (issue 12's ``--ctx``, ``--npu SELECT``, ...): add one
field to :class:`RunSettings` with ``setting(default, help=..., parse=...)``,
in the ``group`` of the commands that take it (``pipeline``: every command
that runs the NPU pipeline; ``matmul``: those that also run a reference and
make an input; a new group for a new family of commands, which lists it in
``add_settings``). Its option, ``--help`` line, ``from_args``, fingerprint
and "what changed" text follow; give it a ``label`` to put it in the TUI's
dialog too. Nothing else declares it.

Each validator takes the text a user typed and a ``label`` naming where it was
typed (``--weight-quant`` on the command line, ``weights`` in the TUI), and
returns the parsed value or raises :class:`OptionError`: one line naming the
label, the value (escaped and cut to 80 characters) and what is accepted.
Validation is syntactic and bounded here; what depends on a model (a token id
inside the vocabulary, a .npy's width) is checked where the model is known.

Only the standard library and numpy-free tables are imported, so ``--help`` stays light.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache, partial
from typing import Any, Callable, Mapping, Optional

from layoutscope.backend.community import names as community
from layoutscope.backend.rknpu2.platforms import DEFAULT_PLATFORM, MATMUL_TYPES, PLATFORMS
from layoutscope.backend.sides import AUTO, NPU_REQUESTS, REFERENCE_BACKENDS
from layoutscope.errors import UsageError
from layoutscope.measure.bands import DEFAULT_BANDS
from layoutscope.formats.threads import MAX_THREADS
from layoutscope.formats.threads import threads_from_env  # noqa: F401 - the CLI checks it with the others
from layoutscope.gguf.filekind import not_regular
from layoutscope.errors import printable, quoted, quoted_path

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

#: The platforms and matmul types of the backend's own tables, in their order.
PLATFORM_NAMES = tuple(PLATFORMS)
MM_NAMES = tuple(MATMUL_TYPES)
#: The NPU cores one matmul can be pinned to: those of the SoC with the most.
NPU_CORES = tuple(range(max(p.npu_cores for p in PLATFORMS.values())))
#: The shapes a requantization scheme takes, for weights and for activations.
WEIGHT_SCHEMES = ("per-channel", "per-tensor", "per-group:G", "fixed")
ACT_SCHEMES = ("per-tensor", "per-token", "fixed:R")


def _either(forms: tuple) -> str:
    return ", ".join(forms[:-1]) + f" or {forms[-1]}"


WEIGHT_SCHEME_FORMS = _either(WEIGHT_SCHEMES)
ACT_SCHEME_FORMS = _either(ACT_SCHEMES)
INPUT_FORMS = "auto, real, random[:SEED], tokens:ID,ID,..., a PATH.npy or an activations PATH.npz"
#: The input forms that read real activations (a model run, or a file ``layoutscope capture`` wrote).
AUTO_INPUT, REAL_INPUT = "auto", "real"
RANGE_FORMS = "A:B, A:, :B, : or A (whole numbers; negative ones count from the end, so -1: is the last)"
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
    """An activation source, checked for syntax: ``auto``, ``real``, ``random[:SEED]``, ``tokens:ID,...`` or a path.

    ``real`` is the input llama.cpp feeds each weight while running the model
    on the bundled text, captured on the fly; ``auto`` is ``real`` wherever
    llama.cpp can run the model and multiplies the weight, else ``random``
    with a notice saying why; a ``.npz`` is a file of real activations
    (:mod:`layoutscope.measure.activations`). A path must exist and be a
    regular file; the array itself is read when the model's K is known
    (:mod:`layoutscope.measure.inputs`).
    """
    raw = str(text).strip()
    if raw in ("random", AUTO_INPUT, REAL_INPUT):
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
        if raw.lower().endswith(".npz"):
            raise invalid(label, text, "no such activations file; make one with `layoutscope capture`", path=True)
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


def pipeline(text: str, label: str = "--pipeline") -> str:
    """``classic`` or a community pipeline name (any case), in its canonical spelling."""
    raw = str(text).strip()
    found = {name.lower(): name for name in community.PIPELINE_CHOICES}.get(raw.lower())
    if found is None:
        raise invalid(label, text, f"choose from {', '.join(community.PIPELINE_CHOICES)}")
    return found


def clip_factor(text: str, label: str) -> float:
    """A clip factor in (0, 1] (UNI's 0.93 and 0.9)."""
    return positive_float(text, label, 0.0, 1.0, "0.93")


def npu_cores(text: str, label: str = "--cores") -> str:
    """``RKNPU_CORES``: ``auto`` (the SoC's cores) or core ids and ranges, e.g. ``0,1,2`` or ``0-2``, canonical."""
    raw = str(text).strip().lower()
    if raw in ("", "auto"):
        return "auto"
    cores: set = set()
    for part in raw.split(","):
        first, dash, last = part.strip().partition("-")
        if not _DIGITS.fullmatch(first) or (dash and not _DIGITS.fullmatch(last)) or len(part) > 12:
            raise invalid(label, text, "core ids or ranges separated by commas, e.g. 0,1,2 or 0-2")
        low, high = int(first), int(last if dash else first)
        if high < low or high > max(NPU_CORES):
            raise invalid(label, text, f"core ids are 0..{max(NPU_CORES)}, ranges low-high")
        cores.update(range(low, high + 1))
    return ",".join(map(str, sorted(cores)))


# -- the record ------------------------------------------------------------------------------------------

#: Where a declaration lives in a dataclass field's metadata.
_DECLARATION = "layoutscope.setting"


@dataclass(frozen=True)
class Setting:
    """One run setting's whole declaration: the CLI option, its ``--help`` line and the TUI row are made from it.

    ``parse(text, label)`` is the validator; ``label`` is ``flag`` on the
    command line and :attr:`label` in the TUI, so the same value is refused
    with the same words in both. ``choices`` are the only values (a select in
    the TUI, ``{a,b}`` in ``--help``); ``forms`` are the shapes a free-form
    value takes (listed in ``--help`` and in the dialog's hint). ``notes`` add
    a word to a choice or form; ``{mm}`` in a note names that setting as the
    front-end labels it (``--mm`` or ``mm``).
    """

    default: Any
    help: str
    parse: Callable[[str, str], Any]
    group: str = "matmul"
    choices: tuple = ()
    forms: tuple = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    metavar: Optional[str] = None
    #: The dialog's label; None keeps the setting out of the TUI.
    label: Optional[str] = None
    #: The dialog's text-field placeholder (a select needs none).
    placeholder: str = ""
    #: A comma list of values, each checked by ``parse`` (``scan --weight-quant a,b`` sweeps them).
    sweep: Optional[Callable[[str, str], Any]] = None
    #: Its values may start with '-' (``--threshold -1`` is a refused value, not an unknown option).
    numeric: bool = False
    #: A value as text (the threshold 5e-4 is ``0.0005``).
    show: Callable[[Any], str] = str
    #: The attribute of :class:`RunSettings`, filled in by :meth:`RunSettings.declared`.
    name: str = ""

    @property
    def flag(self) -> str:
        """The command-line option: ``--weight-quant`` for ``weight_quant``."""
        return "--" + self.name.replace("_", "-")

    def labels(self, cli: bool) -> dict[str, str]:
        """Every setting's name as one front-end says it, for ``{mm}`` in notes."""
        return {s.name: (s.flag if cli else s.label or s.name) for s in RunSettings.declared()}

    def listing(self, cli: bool = True) -> str:
        """The choices or forms, each with its note, the default marked on the command line."""
        names = self.labels(cli)
        shown = []
        for item in self.choices or self.forms:
            words = ["default"] if cli and item == self.default else []
            if str(item) in self.notes:
                words.append(self.notes[str(item)].format(**names))
            shown.append(f"{item} ({'; '.join(words)})" if words else str(item))
        return ", ".join(shown)

    def help_text(self, sweep: bool = False) -> str:
        """The ``--help`` line: what it is, then the choices or forms with the default, or the default."""
        listing = self.listing()
        text = f"{self.help}: {listing}" if listing else self.help
        if self.default not in (self.choices or self.forms):
            text += f" (default {self.show(self.default)})"
        if sweep and self.sweep is not None:
            text += "; a comma list sweeps several, the first ranks"
        return text

    def cli_metavar(self) -> Optional[str]:
        """``{a,b,c}`` for choices, else the declared metavar."""
        return "{" + ",".join(map(str, self.choices)) + "}" if self.choices else self.metavar

    def choice_text(self, choice) -> str:
        """A choice as the dialog's select shows it: ``npu-sim (exact emulator)``."""
        note = self.notes.get(str(choice))
        return f"{choice} ({note.format(**self.labels(cli=False))})" if note else str(choice)


def setting(default, help: str, parse: Callable[[str, str], Any], **declaration):
    """A :class:`RunSettings` field: ``default`` and the rest of its :class:`Setting` declaration."""
    return field(default=default,
                 metadata={_DECLARATION: Setting(default=default, help=help, parse=parse, **declaration)})


def _choice_of(choices: tuple) -> Callable[[str, str], str]:
    return lambda text, label: choice(text, label, choices)


def _joined_schemes(text: str, label: str) -> str:
    return ",".join(weight_schemes(text, label))


@dataclass(frozen=True)
class RunSettings:
    """What a matmul, a scan and the TUI run with; every field declared once (see the module's docstring).

    The values are not checked here: the command line and the TUI check the
    text a user typed with each field's validator, and the backend refuses a
    combination that cannot run (a matmul type the platform lacks).
    ``weight_quant`` may be a comma list, which only a scan sweeps.
    """

    backend: str = setting(
        AUTO, "NPU side", _choice_of(NPU_REQUESTS), choices=NPU_REQUESTS, label="backend",
        notes={AUTO: "npu if available, else npu-sim", "npu-sim": "exact emulator", "npu": "the real NPU"})
    reference: str = setting(
        REFERENCE_BACKENDS[0], "CPU side (cpu is ggml's own kernel, cpu-numpy its numpy twin)",
        _choice_of(REFERENCE_BACKENDS), choices=REFERENCE_BACKENDS, label="reference")
    platform: str = setting(
        DEFAULT_PLATFORM, "SoC whose NPU layouts are used", _choice_of(PLATFORM_NAMES),
        group="pipeline", choices=PLATFORM_NAMES, label="platform")
    mm: str = setting(
        "int8", "NPU matmul type", _choice_of(MM_NAMES), group="pipeline",
        choices=MM_NAMES, label="mm")
    weight_quant: str = setting(
        "per-channel", "weight requantization", weight_scheme,
        group="pipeline", forms=WEIGHT_SCHEMES, notes={"per-group:G": "needs {mm} int8-fp32"}, metavar="S",
        label="weights", placeholder=" | ".join(WEIGHT_SCHEMES), sweep=_joined_schemes)
    act_quant: str = setting(
        "per-tensor", "activation requantization", act_scheme,
        group="pipeline", forms=ACT_SCHEMES, metavar="S", label="activations", placeholder=" | ".join(ACT_SCHEMES))
    input: str = setting(
        AUTO_INPUT, "activations X (M×K): random[:SEED], tokens:ID,ID,..., a PATH.npy, an activations PATH.npz "
        "(layoutscope capture writes one), or", input_spec, forms=(AUTO_INPUT, REAL_INPUT),
        notes={AUTO_INPUT: "real where llama.cpp runs the model, else random",
               REAL_INPUT: "captured from the bundled text; the reference is llama.cpp's own output"},
        metavar="SRC", label="input", placeholder="auto | real | random[:SEED] | tokens:ID,... | PATH.npy | PATH.npz")
    rows: int = setting(
        8, "rows of input (random rows, or real rows spread over the text)", partial(whole_number, minimum=1, example="8"), metavar="M", label="rows",
        numeric=True)
    threshold: float = setting(
        DEFAULT_BANDS[0], f"verdict threshold, an NMSE: ok up to it, degraded up to max(it, {DEFAULT_BANDS[1]:g}), "
        "broken above", partial(positive_float, example="5e-4"), metavar="NMSE",
        label="threshold", placeholder="NMSE, e.g. 5e-4", numeric=True, show=lambda value: f"{value:g}")
    npu_core: int = setting(
        NPU_CORES[0], "NPU core that --backend npu runs on (the matmul API takes one)",
        partial(whole_number, minimum=min(NPU_CORES), maximum=max(NPU_CORES)), choices=NPU_CORES, numeric=True)
    threads: int = setting(
        1, "threads for ggml's CPU matmul", partial(whole_number, minimum=1, maximum=MAX_THREADS),
        metavar="THREADS", numeric=True)
    # The community RKNPU2 backend's pipelines (backend/community): classic keeps the schemes above.
    pipeline: str = setting(
        community.CLASSIC, "NPU pipeline: classic (the --mm/--weight-quant/--act-quant schemes) or one of the "
        "community RKNPU2 backend's, emulated exactly", pipeline, group="pipeline",
        choices=community.PIPELINE_CHOICES, label="pipeline")
    w8_calib: str = setting(
        community.CALIBRATIONS[0], "INT8 weight amax of the W8A8 pipelines (RKNPU_W8_CALIB)",
        _choice_of(community.CALIBRATIONS), group="pipeline", choices=community.CALIBRATIONS, label="w8 calib")
    seed: int = setting(
        0, "seed of the Hadamard pipelines' sign vectors (the board seeds them with a tensor's address)",
        partial(whole_number, minimum=0, maximum=MAX_SEED, example="0"), group="pipeline", metavar="SEED",
        label="seed", numeric=True)
    cores: str = setting(
        "auto", "NPU cores a community pipeline splits N across (RKNPU_CORES; sets the INT4 scale blocks)",
        npu_cores, group="pipeline", metavar="LIST", forms=("auto", "0,1,2", "0-2"),
        notes={"auto": "the SoC's: 0,1,2 on RK3588, 0,1 on RK3576"})
    int8_weight_scale: str = setting(
        community.INT8_WEIGHT_SCALES[0], "INT8 weight scales: per (K segment, channel), or per core block "
        "(INV-block)", _choice_of(community.INT8_WEIGHT_SCALES), group="pipeline",
        choices=community.INT8_WEIGHT_SCALES, label="int8 scale")
    int4_weight_scale: str = setting(
        community.INT4_WEIGHT_SCALES[0], "INT4 weight scales: per core block by KL search, or per channel amax/7 "
        "(INV-perchan, UNI)", _choice_of(community.INT4_WEIGHT_SCALES), group="pipeline",
        choices=community.INT4_WEIGHT_SCALES, label="int4 scale")
    hadamard_blocks: str = setting(
        community.HADAMARD_LAYOUTS[0], "Hadamard transform: one of next_pow2(K), zero-padded, or blocks of the "
        "largest power of two dividing K (UNI)", _choice_of(community.HADAMARD_LAYOUTS), group="pipeline",
        choices=community.HADAMARD_LAYOUTS, label="hadamard")
    weight_clip: float = setting(
        1.0, "INT4 weight scale factor (UNI's B_CLIP: 0.93)", clip_factor, group="pipeline", metavar="F",
        label="weight clip", numeric=True, show=lambda value: f"{value:g}")
    activation_clip: float = setting(
        1.0, "INT4 activation scale factor (UNI's A_CLIP: 0.9)", clip_factor, group="pipeline", metavar="F",
        label="act clip", numeric=True, show=lambda value: f"{value:g}")
    activation_rounding: str = setting(
        community.ACTIVATION_ROUNDINGS[0], "INT8 activation rounding (half-even: pty819)",
        _choice_of(community.ACTIVATION_ROUNDINGS), group="pipeline", choices=community.ACTIVATION_ROUNDINGS,
        label="act rounding")
    clipped_weights: str = setting(
        community.CLIPPED_WEIGHTS[0], "INT8 weight codes past ±127 after percentile/mse: clamp to ±127 (marfrit), "
        "saturate to -128..127 (INV), wrap (UNI); UNCONFIRMED for ORG", _choice_of(community.CLIPPED_WEIGHTS),
        group="pipeline", choices=community.CLIPPED_WEIGHTS, label="clipped W")
    rescale_order: str = setting(
        community.RESCALE_ORDERS[0], "float32 rescale: org sB·(sA/hdiv), inv (sA·sB)/hdiv (INV, pty819)",
        _choice_of(community.RESCALE_ORDERS), group="pipeline", choices=community.RESCALE_ORDERS,
        label="rescale")
    int4_overflow: str = setting(
        community.INT4_OVERFLOWS[0], "INT4 pipelines' int16 C past its range (UNCONFIRMED on the NPU)",
        _choice_of(community.INT4_OVERFLOWS), group="pipeline", choices=community.INT4_OVERFLOWS,
        label="int4 overflow")
    search_cast: str = setting(
        community.SEARCH_CASTS[0], "int8 cast before the clamp in the mse/KL searches (UNCONFIRMED: GCC/AArch64 "
        "wraps)", _choice_of(community.SEARCH_CASTS), group="pipeline", choices=community.SEARCH_CASTS,
        label="search cast")

    @classmethod
    def declared(cls, *groups: str) -> tuple[Setting, ...]:
        """Every setting's declaration in field order (those of ``groups`` when given)."""
        return tuple(s for s in _declarations() if not groups or s.group in groups)

    @classmethod
    def declaration(cls, name: str) -> Setting:
        """The declaration of the field ``name`` (KeyError naming the settings there are)."""
        found = {s.name: s for s in cls.declared()}
        if name not in found:
            raise KeyError(f"no run setting {name!r}; there are {', '.join(found)}")
        return found[name]

    @classmethod
    def from_args(cls, args) -> "RunSettings":
        """The settings a parsed command line gives (fields it has no option for keep their defaults)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    def npu_options(self) -> dict:
        """Keyword options of the NPU side: the classic pipeline's (platform, mm, weight_quant, act_quant), then
        ``pipeline`` and the community backend's options (``layoutscope.backend.get_backend`` takes them all)."""
        return {s.name: getattr(self, s.name) for s in self.declared("pipeline")}

    @property
    def weight_quants(self) -> tuple:
        """The weight schemes: one, or a scan's sweep (the first ranks)."""
        return tuple(s.strip() for s in self.weight_quant.split(","))

    @property
    def bands(self) -> tuple:
        """Verdict bands with the threshold as the ok bound, for a matmul and a scan alike."""
        return (self.threshold, max(self.threshold, DEFAULT_BANDS[1]))

    def with_changes(self, **changes) -> "RunSettings":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @property
    def fingerprint(self) -> tuple:
        """Every setting a result depends on; results made under another fingerprint are stale."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def differences(self, other: "RunSettings") -> list[str]:
        """What changed from ``self`` to ``other``, one ``"mm int8 → int4"`` per setting, in the dialog's words."""
        declared = {s.name: s for s in self.declared()}
        out = []
        for f in fields(self):
            old, new = getattr(self, f.name), getattr(other, f.name)
            if old != new:
                s = declared.get(f.name)
                label, show = (s.label or s.name, s.show) if s else (f.name, str)
                out.append(f"{label} {printable(show(old))} → {printable(show(new))}")
        return out

    def to_dict(self) -> dict:
        """Plain data (for display and tests)."""
        return asdict(self)


@cache
def _declarations() -> tuple[Setting, ...]:
    return tuple(replace(f.metadata[_DECLARATION], name=f.name) for f in fields(RunSettings))
