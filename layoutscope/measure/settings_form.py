"""The settings dialog's fields checked in the TUI's own words: every field's problem at once.

The dialog shows one row per setting of :class:`~layoutscope.measure.settings.RunSettings`
that has a ``label`` (:data:`FIELDS`), and each is checked by that setting's
own validator under its label, so a bad value is refused with the command
line's words, naming ``mm`` where the command line names ``--mm``.
:func:`check_fields` turns the dialog's texts into a ``RunSettings``, or into
one message per field that cannot be used. Two checks are stricter here
(:data:`DIALOG_CHECKS`): :func:`check_input` also checks what depends on the
open model (token ids inside its vocabulary, a ``.npy`` that holds float32
rows), so ``tokens:99999999`` is refused when it is typed, not at the next
matmul; and an interactive matmul takes at most :data:`MAX_ROWS` rows. Pure:
no Textual, so it is tested on its own.
"""

from __future__ import annotations

from typing import Mapping, Optional

from layoutscope.measure import settings as options
from layoutscope.measure.session import in_field_words
from layoutscope.measure.settings import OptionError, RunSettings, Setting, invalid

#: The settings the dialog shows, top to bottom.
DIALOG_SETTINGS: tuple[Setting, ...] = tuple(s for s in RunSettings.declared() if s.label)
#: The dialog's fields, as it labels them.
FIELDS = tuple(s.label for s in DIALOG_SETTINGS)
#: Most activation rows one interactive matmul takes (X is rows × K float32, and the NPU side copies it).
MAX_ROWS = 4096


def check_input(text: str, model=None, label: str = "input") -> str:
    """``text`` as an input setting, or an :class:`OptionError` naming ``label``.

    Syntax first (:func:`layoutscope.measure.settings.input_spec`); with a ``model``,
    token ids must be rows of its ``token_embd.weight``, and a ``.npy`` must
    hold a non-empty float32 (M, K) array (its K is checked per weight, later).
    """
    spec = options.input_spec(text, label)
    if spec.startswith("tokens:") and model is not None:
        ids = options.token_ids(spec, label)
        if "token_embd.weight" not in model:
            raise invalid(label, text, "this model has no token_embd.weight to take token rows from; "
                                       "use random or a .npy")
        vocabulary = model.tensor("token_embd.weight").n_rows
        outside = next((i for i in ids if i >= vocabulary), None)
        if outside is not None:
            raise invalid(label, text, f"token id {outside} is outside the vocabulary (ids 0..{vocabulary - 1}, "
                                       "the rows of token_embd.weight)")
    elif spec in (options.AUTO_INPUT, options.REAL_INPUT):
        pass  # the model runs when a matmul needs it; auto falls back to random with a notice
    elif spec.lower().endswith(".npz"):
        from layoutscope.measure.activations import load_activations

        load_activations(spec, str(model.path) if model is not None else None, label)
    elif not spec.startswith("random"):
        _check_npy(spec, text, label)
    return spec


def _check_npy(path: str, text: str, label: str) -> None:
    import numpy as np

    try:
        # A memory map reads the header only: the rows stay on disk until a matmul needs them.
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise invalid(label, text, f"cannot be read as a .npy file ({type(exc).__name__}); save X with numpy.save") \
            from None
    if not isinstance(x, np.ndarray):
        raise invalid(label, text, "holds several arrays; save the one X (M, K) with numpy.save")
    if x.dtype != np.float32:
        raise invalid(label, text, f"dtype is {x.dtype}, expected float32 (save x.astype(numpy.float32))")
    if x.ndim != 2 or 0 in x.shape:
        raise invalid(label, text, f"shape is {tuple(x.shape)}, expected float32 rows (M, K) with M, K ≥ 1")


def check_fields(values: Mapping[str, str], base: RunSettings,
                 model=None) -> tuple[Optional[RunSettings], dict[str, str]]:
    """``(settings, {})`` when every field can be used, else ``(None, {field: message})`` for each one that cannot.

    ``values`` maps the labels of :data:`FIELDS` to the texts typed or chosen;
    a missing field keeps ``base``'s value. The combination (a scheme the
    matmul type cannot take, a type the platform lacks) is checked once every
    field is valid on its own.
    """
    errors: dict[str, str] = {}
    parsed: dict = {}
    for s in DIALOG_SETTINGS:
        text = str(values.get(s.label, s.show(getattr(base, s.name)))).strip()
        stricter = DIALOG_CHECKS.get(s.name)
        try:
            parsed[s.name] = stricter(text, s.label, model) if stricter else s.parse(text, s.label)
        except OptionError as exc:
            errors[s.label] = str(exc)
    if errors:
        return None, errors
    settings = base.with_changes(**parsed)
    problem = combination_problem(settings)
    if problem:
        field, message = problem
        return None, {field: message}
    return settings, {}


def _dialog_rows(text: str, label: str, model=None) -> int:
    # The setting's own check first, so whatever the command line refuses is refused in its words.
    rows = RunSettings.declaration("rows").parse(text, label)
    if rows > MAX_ROWS:
        options.whole_number(text, label, 1, MAX_ROWS, "8")
    return rows


#: The dialog's stricter checks, ``check(text, label, model)``, each after or instead of the setting's own:
#: the input against the open model, and a cap on the rows of an interactive matmul.
DIALOG_CHECKS = {
    "input": lambda text, label, model: check_input(text or "random", model, label),
    "rows": _dialog_rows,
}


def combination_problem(settings: RunSettings) -> Optional[tuple[str, str]]:
    """``(field, message)`` when valid fields do not make a matmul together, else None."""
    from layoutscope.backend import get_backend
    from layoutscope.backend.rknpu2.platforms import get_platform

    if settings.pipeline != "classic":
        # A community pipeline ignores mm and the schemes; only its SoC and options can fail together.
        try:
            get_backend("npu-sim", **settings.npu_options())
        except ValueError as exc:
            return "pipeline", str(invalid("pipeline", settings.pipeline, in_field_words(str(exc))))
        return None
    platform = get_platform(settings.platform)
    if not platform.supports(settings.mm):
        return "mm", str(invalid("mm", settings.mm, f"{platform.name} has no such matmul; it has "
                                                    f"{', '.join(platform.matmul_types)}"))
    if settings.weight_quant.startswith("per-group") and settings.mm != "int8-fp32":
        return "weights", str(invalid("weights", settings.weight_quant,
                                      "per-group scales need mm int8-fp32, the only NPU matmul that takes "
                                      "per-group B; choose it, or another scheme"))
    try:
        get_backend("npu-sim", **settings.npu_options())
    except ValueError as exc:
        return "mm", in_field_words(str(exc))
    return None
