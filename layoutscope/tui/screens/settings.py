"""The settings dialog: backend, reference, platform, schemes, input and threshold."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from ...matmul_session import ACT_SCHEMES, MM_NAMES, PLATFORM_NAMES, WEIGHT_SCHEMES, MatmulSettings, validate


def _options(values) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


class SettingsScreen(ModalScreen[MatmulSettings]):
    """Edit :class:`MatmulSettings`; ctrl+s (or enter in a text field) saves, esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, settings: MatmulSettings, availability: list | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.availability = availability or []

    def _backend_options(self) -> list[tuple[str, str]]:
        npu = next(((ok, why) for name, ok, why in self.availability if name == "npu"), None)
        options = [("auto: npu if available, else npu-sim", "auto"), ("npu-sim (exact emulator)", "npu-sim")]
        if npu and npu[0]:
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
            yield from self._row("rows", Input(str(s.rows), type="integer", compact=True, id="set-rows"))
            yield from self._row("threshold", Input(f"{s.threshold:g}", placeholder="NMSE, e.g. 5e-4", compact=True,
                                                    id="set-threshold"))
            yield Static("weights: per-channel, per-tensor, per-group:G (needs mm int8-fp32), fixed · "
                         "activations: per-tensor, per-token, fixed:R", id="settings-hint")
            yield Static("", id="settings-error")

    def _row(self, label: str, widget) -> ComposeResult:
        with Horizontal(classes="settings-row"):
            yield Label(label, classes="settings-label")
            yield widget

    def _collect(self) -> MatmulSettings:
        def value(selector: str) -> str:
            return str(self.query_one(selector).value).strip()

        try:
            rows = int(value("#set-rows") or 0)
        except ValueError:
            rows = 0
        try:
            threshold = float(value("#set-threshold"))
        except ValueError:
            threshold = -1.0
        return self.settings.with_changes(
            backend=value("#set-backend"), reference=value("#set-reference"), platform=value("#set-platform"),
            mm=value("#set-mm"), weight_quant=value("#set-weight-quant"), act_quant=value("#set-act-quant"),
            input=value("#set-input") or "random", rows=rows, threshold=threshold,
        )

    def action_save(self) -> None:
        """Validate and close with the new settings, or show why they cannot be used."""
        settings = self._collect()
        problem = validate(settings)
        if problem:
            self.query_one("#settings-error", Static).update(Text(f"cannot use these settings: {problem}"))
            return
        self.dismiss(settings)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
