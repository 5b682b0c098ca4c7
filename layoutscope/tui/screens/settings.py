"""The settings dialog: backend, reference, platform, schemes, input and threshold.

Every field is checked by :mod:`layoutscope.measure.settings_form`, in the dialog's
own words: saving lists every field that cannot be used at once, and the
input field is checked against the open model as soon as it is left (a token
id outside the vocabulary, a .npy that is not float32 rows).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from layoutscope.measure.session import ACT_SCHEMES, MM_NAMES, PLATFORM_NAMES, WEIGHT_SCHEMES, MatmulSettings
from layoutscope.measure.settings import OptionError
from layoutscope.measure.settings_form import check_fields, check_input
from layoutscope.tui.survival import Survives

#: Widget id of each field, in the dialog's order (the first is focused on open).
FIELD_IDS = {
    "backend": "set-backend", "reference": "set-reference", "platform": "set-platform", "mm": "set-mm",
    "weights": "set-weight-quant", "activations": "set-act-quant", "input": "set-input", "rows": "set-rows",
    "threshold": "set-threshold",
}


def _options(values) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


class SettingsScreen(Survives, ModalScreen[MatmulSettings]):
    """Edit :class:`MatmulSettings`; ctrl+s (or enter in a text field) saves, esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, settings: MatmulSettings, availability: list | None = None, model=None) -> None:
        super().__init__()
        self.settings = settings
        self.availability = availability or []
        self.model = model
        #: The message of each field that cannot be used, as last checked.
        self.errors: dict[str, str] = {}

    def _backend_options(self) -> list[tuple[str, str]]:
        npu = next(((ok, why) for name, ok, why in self.availability if name == "npu"), None)
        options = [("auto: npu if available, else npu-sim", "auto"), ("npu-sim (exact emulator)", "npu-sim")]
        if (npu and npu[0]) or self.settings.backend == "npu":
            options.append(("npu (the real NPU)", "npu"))
        return options

    def compose(self) -> ComposeResult:
        s = self.settings
        with VerticalScroll(id="settings-box"):
            yield Static("matmul settings  (ctrl+s saves · esc cancels)", id="settings-title")
            yield from self._row("backend", Select(self._backend_options(), value=s.backend, allow_blank=False,
                                                   compact=True, id="set-backend"))
            yield from self._row("reference", Select(_options(("cpu", "cpu-numpy")), value=s.reference,
                                                     allow_blank=False, compact=True, id="set-reference"))
            yield from self._row("platform", Select(_options(PLATFORM_NAMES), value=s.platform, allow_blank=False,
                                                    compact=True, id="set-platform"))
            yield from self._row("mm", Select(_options(MM_NAMES), value=s.mm, allow_blank=False, compact=True,
                                              id="set-mm"))
            yield from self._row("weights", Input(s.weight_quant, placeholder=" | ".join(WEIGHT_SCHEMES), compact=True,
                                                  id="set-weight-quant"))
            yield from self._row("activations", Input(s.act_quant, placeholder=" | ".join(ACT_SCHEMES), compact=True,
                                                      id="set-act-quant"))
            yield from self._row("input", Input(s.input, placeholder="random[:SEED] | tokens:ID,... | PATH.npy",
                                                compact=True, id="set-input"))
            yield from self._row("rows", Input(str(s.rows), compact=True, id="set-rows"))
            yield from self._row("threshold", Input(f"{s.threshold:g}", placeholder="NMSE, e.g. 5e-4", compact=True,
                                                    id="set-threshold"))
            yield Static("weights: per-channel, per-tensor, per-group:G (needs mm int8-fp32), fixed · "
                         "activations: per-tensor, per-token, fixed:R", id="settings-hint")
            yield Static("", id="settings-error")

    def _row(self, label: str, widget) -> ComposeResult:
        with Horizontal(classes="settings-row"):
            yield Label(label, classes="settings-label")
            yield widget

    def on_mount(self) -> None:
        self.query_one(f"#{FIELD_IDS['backend']}").focus()

    def _values(self) -> dict[str, str]:
        return {field: str(self.query_one(f"#{widget_id}").value) for field, widget_id in FIELD_IDS.items()}

    def _show_errors(self) -> None:
        for field, widget_id in FIELD_IDS.items():
            self.query_one(f"#{widget_id}").set_class(field in self.errors, "field-error")
        lines = [self.errors[f] for f in FIELD_IDS if f in self.errors]
        text = Text("\n".join(lines), style="bold") if lines else ""
        self.query_one("#settings-error", Static).update(text)

    def action_save(self) -> None:
        """Close with the new settings, or list every field that cannot be used and stay."""
        settings, self.errors = check_fields(self._values(), self.settings, self.model)
        self._show_errors()
        if settings is None:
            first = next(f for f in FIELD_IDS if f in self.errors)
            self.query_one(f"#{FIELD_IDS[first]}").focus()
            return
        self.dismiss(settings)

    def _check_input(self) -> None:
        try:
            check_input(self.query_one("#set-input", Input).value or "random", self.model)
        except OptionError as exc:
            self.errors["input"] = str(exc)
        else:
            self.errors.pop("input", None)
        self._show_errors()

    @on(Input.Blurred, "#set-input")
    def _input_left(self, event: Input.Blurred) -> None:
        # Checked as it is entered: a token id outside the vocabulary is named now, not at the next matmul.
        self._check_input()

    @on(Input.Changed, "#set-input")
    def _input_edited(self, event: Input.Changed) -> None:
        if "input" in self.errors:  # the message goes as soon as the value is fixed
            self._check_input()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
