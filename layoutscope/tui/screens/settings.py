"""The settings dialog: one row per setting of the run-settings record that has a label.

Rows, labels, choices, placeholders and the hint line come from
:class:`~layoutscope.measure.settings.RunSettings` (through
:data:`~layoutscope.measure.settings_form.DIALOG_SETTINGS`): a setting with
choices is a select, any other a text field. Every field is checked by
:mod:`layoutscope.measure.settings_form`, in the dialog's own words: saving
lists every field that cannot be used at once, and the input field is checked
against the open model as soon as it is left (a token id outside the
vocabulary, a .npy that is not float32 rows).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from layoutscope.measure.settings import OptionError, RunSettings, Setting
from layoutscope.measure.settings_form import DIALOG_SETTINGS, check_fields, check_input
from layoutscope.tui.survival import Survives


def widget_id(setting: Setting) -> str:
    """The id of a setting's widget: ``set-weight-quant`` for ``--weight-quant``."""
    return "set-" + setting.flag[2:]


#: Widget id of each field, by the dialog's label, in the dialog's order (the first is focused on open).
FIELD_IDS = {s.label: widget_id(s) for s in DIALOG_SETTINGS}


class SettingsScreen(Survives, ModalScreen[RunSettings]):
    """Edit :class:`RunSettings`; ctrl+s (or enter in a text field) saves, esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, settings: RunSettings, availability: list | None = None, model=None) -> None:
        super().__init__()
        self.settings = settings
        self.availability = availability or []
        self.model = model
        #: The message of each field that cannot be used, as last checked.
        self.errors: dict[str, str] = {}

    def _choices(self, setting: Setting) -> list:
        """A select's choices; the real NPU is offered only when it is available (or already chosen)."""
        if setting.name != "backend":
            return list(setting.choices)
        npu_ready = any(name == "npu" and ok for name, ok, _ in self.availability)
        return [c for c in setting.choices if c != "npu" or npu_ready or self.settings.backend == "npu"]

    def _widget(self, setting: Setting):
        value = getattr(self.settings, setting.name)
        if setting.choices:
            options = [(setting.choice_text(c), c) for c in self._choices(setting)]
            return Select(options, value=value, allow_blank=False, compact=True, id=widget_id(setting))
        return Input(setting.show(value), placeholder=setting.placeholder, compact=True, id=widget_id(setting))

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="settings-box"):
            yield Static("matmul settings  (ctrl+s saves · esc cancels)", id="settings-title")
            for setting in DIALOG_SETTINGS:
                with Horizontal(classes="settings-row"):
                    yield Label(setting.label, classes="settings-label")
                    yield self._widget(setting)
            yield Static(" · ".join(f"{s.label}: {s.listing(cli=False)}" for s in DIALOG_SETTINGS if s.forms),
                         id="settings-hint")
            yield Static("", id="settings-error")

    def on_mount(self) -> None:
        self.query_one(f"#{widget_id(DIALOG_SETTINGS[0])}").focus()

    def _values(self) -> dict[str, str]:
        return {field: str(self.query_one(f"#{wid}").value) for field, wid in FIELD_IDS.items()}

    def _show_errors(self) -> None:
        for field, wid in FIELD_IDS.items():
            self.query_one(f"#{wid}").set_class(field in self.errors, "field-error")
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
