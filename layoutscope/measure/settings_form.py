"""The settings dialog's fields checked in the TUI's own words: every field's problem at once.

:func:`check_fields` turns the texts of the dialog (``weights``,
``activations``, ``input``, ``rows``, ``threshold`` and the choices) into a
:class:`~layoutscope.measure.session.MatmulSettings`, or into one message per
field that cannot be used, each naming the field as the dialog labels it and
never a command-line flag. :func:`check_input` also checks what depends on the
open model (token ids inside its vocabulary, a ``.npy`` that holds float32
rows), so ``tokens:99999999`` is refused when it is typed, not at the next
matmul. Pure: no Textual, so it is tested on its own.
"""

from __future__ import annotations

from typing import Mapping, Optional

from layoutscope.measure import settings as options
from layoutscope.measure.session import MatmulSettings, in_field_words
from layoutscope.measure.settings import OptionError, invalid

#: The dialog's fields, top to bottom, as it labels them.
FIELDS = ("backend", "reference", "platform", "mm", "weights", "activations", "input", "rows", "threshold")
#: Most activation rows one interactive matmul takes (X is rows × K float32, and the NPU side copies it).
MAX_ROWS = 4096
BACKENDS = ("auto", "npu-sim", "npu")
REFERENCES = ("cpu", "cpu-numpy")


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


def check_fields(values: Mapping[str, str], base: MatmulSettings,
                 model=None) -> tuple[Optional[MatmulSettings], dict[str, str]]:
    """``(settings, {})`` when every field can be used, else ``(None, {field: message})`` for each one that cannot.

    ``values`` maps the names of :data:`FIELDS` to the texts typed or chosen;
    a missing field keeps ``base``'s value. The combination (a scheme the
    matmul type cannot take, a type the platform lacks) is checked once every
    field is valid on its own.
    """
    def text(field: str, current) -> str:
        return str(values.get(field, current)).strip()

    errors: dict[str, str] = {}
    parsed: dict = {}
    checks = (
        ("backend", "backend", lambda t: options.choice(t, "backend", BACKENDS), base.backend),
        ("reference", "reference", lambda t: options.choice(t, "reference", REFERENCES), base.reference),
        ("platform", "platform", lambda t: options.platform(t, "platform"), base.platform),
        ("mm", "mm", lambda t: options.matmul_type(t, "mm"), base.mm),
        ("weights", "weight_quant", lambda t: options.weight_scheme(t, "weights"), base.weight_quant),
        ("activations", "act_quant", lambda t: options.act_scheme(t, "activations"), base.act_quant),
        ("input", "input", lambda t: check_input(t or "random", model, "input"), base.input),
        ("rows", "rows", lambda t: options.whole_number(t, "rows", 1, MAX_ROWS, "8"), base.rows),
        ("threshold", "threshold", lambda t: options.positive_float(t, "threshold", example="5e-4"),
         f"{base.threshold:g}"),
    )
    for field, attribute, check, current in checks:
        try:
            parsed[attribute] = check(text(field, current))
        except OptionError as exc:
            errors[field] = str(exc)
    if errors:
        return None, errors
    settings = base.with_changes(**parsed)
    problem = combination_problem(settings)
    if problem:
        field, message = problem
        return None, {field: message}
    return settings, {}


def combination_problem(settings: MatmulSettings) -> Optional[tuple[str, str]]:
    """``(field, message)`` when valid fields do not make a matmul together, else None."""
    from layoutscope.backend import get_backend
    from layoutscope.backend.rknpu2.platforms import get_platform

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
