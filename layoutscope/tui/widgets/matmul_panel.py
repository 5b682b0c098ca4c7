"""The Matmul panel: settings (and which NPU side runs, and why), progress, the comparison and a diagnosis.

numpy and the number formatting load with the first result shown, not with the app.
"""

from __future__ import annotations

from typing import Optional

from rich.console import Group
from rich.padding import Padding
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import DataTable, ProgressBar, Static

from layoutscope.measure.session import STAGES
from layoutscope.errors import printable
from layoutscope.tui.survival import Survives

VERDICT_STYLE = {"ok": "bold green", "degraded": "bold yellow", "broken": "bold red"}
STALE_STYLE = "bold yellow"


def settings_text(settings, side) -> Text:
    """The settings block: NPU side in one line (its reason is under notes), reference, schemes, input, threshold."""
    text = Text("settings\n", style="bold")
    if side is None:
        text.append("NPU side: checking which backends are available…\n", style="dim")
    else:
        text.append("NPU side: ", style="bold")
        text.append(f"{side.summary}\n")
    text.append("reference: ", style="bold")
    text.append(f"{settings.reference} (ggml's CPU mul_mat; cpu-numpy if libggml cannot load)\n")
    text.append(printable(f"platform {settings.platform} · mm {settings.mm} · weights {settings.weight_quant} · "
                          f"activations {settings.act_quant}") + "\n")
    text.append(printable(f"input {settings.input}, {settings.rows} row(s) · threshold NMSE {settings.threshold:g}"))
    text.append("\nm runs · d diagnoses an observed .npy · s changes settings · x exports CSV · esc cancels a run",
                style="dim")
    return text


def side_notes(side) -> list[str]:
    """The NPU side's details, for the notes section: why it is not the real NPU."""
    if side is None or side.npu_available or side.reason.startswith("npu-sim chosen"):
        return []
    return [side.reason]


def stale_text(what: str, staleness: str) -> Text:
    """The banner over a result made under other settings."""
    return Text(f"STALE {what}: {staleness}. m reruns it with the current settings; x and n/N ignore it.",
                style=STALE_STYLE)


def results_text(comparison, notices) -> Text:
    """Metrics, verdict, the weight-alone error and the shapes of one comparison."""
    m = comparison.metrics
    d = comparison.details.get("backend", {})
    text = Text()
    text.append(f"{printable(comparison.tensor)}: {comparison.backend} vs {comparison.reference}\n", style="bold")
    text.append("verdict ")
    text.append(m.verdict.upper(), style=VERDICT_STYLE.get(m.verdict, "bold"))
    text.append(f"   NMSE {m.nmse:.3e}   SNR {m.snr_db:.1f} dB   cosine {m.cosine:.6f}\n")
    text.append(f"max|err| {m.max_abs:.4g}   mean|err| {m.mean_abs:.4g}")
    if m.exact_fraction is not None:
        text.append(f"   exact int32 matches {m.exact_fraction:.2%}")
    text.append("\n")
    w = comparison.weight_error
    if w is not None:
        text.append(f"weight alone: NMSE {w.nmse:.3e}   SNR {w.snr_db:.1f} dB   max|err| {w.max_abs:.4g}\n")
        text.append("  (W requantized vs W dequantized: the scheme's own error)\n", style="dim")
    if d and "pipeline" in d:
        text.append(f"M={d.get('M')} K={d.get('K')} N={d.get('N')} (K_op={d.get('K_op')}) · {d['pipeline']} "
                    f"seed {d.get('seed')}\n")
    elif d:
        text.append(f"M={d.get('M')} K={d.get('K')} N={d.get('N')} (padded K={d.get('K_padded')} N={d.get('N_padded')}) · "
                    f"{d.get('rknn_matmul_type', '')}\n")
    text.append(f"input: {printable(comparison.input)}\n")
    for f in [*comparison.findings, m.excluded_text]:
        if f:
            text.append(f"FINDING: {printable(f)}\n", style="bold yellow")
    for n in notices:
        text.append(f"note: {printable(n)}\n", style="dim")
    return text


def notes_text(comparison, side=None) -> Text:
    """The NPU side's details and the backend's notes; UNCERTAIN hardware behaviour is highlighted."""
    notes = side_notes(side)
    if comparison is not None:
        backend = comparison.details.get("backend", {})
        notes += [n for n in backend.get("notes", []) if n]
        notes += [f"UNCONFIRMED: {n}" for n in backend.get("unconfirmed", [])]  # a community pipeline's
    text = Text()
    for n in notes:
        text.append(f"- {printable(n)}\n", style="bold yellow" if "UNCERTAIN" in n or "UNCONFIRMED" in n else "")
    return text


def diagnosis_text(diagnosis, observed_path: str, input_path: str) -> Group:
    """A diagnosis, narrow enough for the panel: the verdict and fix first, then every hypothesis ranked.

    Each hypothesis is one line (rank, id, NMSE against the observed Y) with
    its meaning indented under it; the ones that cannot occur here are
    marked ``-`` with the reason.
    """
    m, k, n = diagnosis.shape
    best, second = diagnosis.best, diagnosis.runner_up
    parts: list = [Text(f"diagnosis of {printable(diagnosis.tensor)}", style="bold"),
                   Text(f"Y {printable(observed_path)} ({m}×{n}) · X {printable(input_path)} ({m}×{k})", style="dim"),
                   Text(diagnosis.summary(), style="bold" if best is not None else "bold yellow")]
    if best is not None and best.id != "none":
        parts.append(Text(f"fix: {best.fix}"))
    if second is not None:
        parts.append(Text(f"but {second.id} (NMSE {second.nmse:.3g}) explains it about as well: this input cannot "
                          "tell them apart; try another input", style="yellow"))
    if best is None:
        parts.append(Text("check platform, mm and the schemes (s) against the backend's, and that X is exactly "
                          "what it was given", style="dim"))
    parts += [Text(f"note: {note}", style="dim") for note in diagnosis.notes]
    width = max(len(f.id) for f in diagnosis.findings)
    parts += [Text(""), Text(f" {'#':>2} {'hypothesis':<{width}} {'NMSE':>9}", style="bold")]
    rank = 0
    for f in diagnosis.findings:
        if f.applicable:
            rank += 1
            style = "bold green" if best is not None and f.id == best.id else ""
            parts.append(Text(f" {rank:>2} {f.id:<{width}} {f.nmse:>9.3e}", style=style))
            about = f.meaning + (f"; {f.note}" if f.note else "")
        else:
            parts.append(Text(f"  - {f.id:<{width}} {'n/a':>9}", style="dim"))
            about = f"not applicable: {f.reason}"
        parts.append(Padding(Text(about, style="dim"), (0, 0, 0, 4)))
    return Group(*parts)


class MatmulPanel(Survives, VerticalScroll):
    """Settings, a progress bar while running, and the latest comparison of the selected tensor."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._side = None
        self._comparison = None

    def compose(self):
        yield ProgressBar(total=len(STAGES), show_eta=False, id="matmul-progress")
        yield Static("", id="matmul-stage")
        yield Static("", id="matmul-diagnosis")
        yield Static("", id="matmul-results")
        yield DataTable(id="matmul-worst", cursor_type="row", zebra_stripes=True)
        yield Static("", id="matmul-histogram")
        yield Static("", id="matmul-notes")
        yield Static("", id="matmul-settings")

    def on_mount(self) -> None:
        self.query_one("#matmul-worst", DataTable).add_columns("m", "n", "reference", "npu", "|err|")
        self.set_running(False)
        self.show_result(None, [])
        self.show_diagnosis(None)

    def show_settings(self, settings, side) -> None:
        """Redraw the settings block (and the notes, which hold the NPU side's details)."""
        self._side = side
        self.query_one("#matmul-settings", Static).update(settings_text(settings, side))
        self._show_notes()

    def _show_notes(self) -> None:
        notes = notes_text(self._comparison, self._side)
        self.query_one("#matmul-notes", Static).update(Text("notes\n", style="bold") + notes if notes.plain else "")

    def set_running(self, running: bool, stage: str = "", index: int = 0, total: int = len(STAGES)) -> None:
        """Show (or hide) the progress bar at step ``index`` of ``total`` (a matmul's stages by default)."""
        bar = self.query_one("#matmul-progress", ProgressBar)
        bar.display = running
        if running:
            bar.update(total=total, progress=index)
        line = self.query_one("#matmul-stage", Static)
        line.update(Text(f"running: {printable(stage)} ({index + 1}/{total}) · esc cancels", style="bold") if running else "")
        line.display = running

    def show_stage_line(self, line: str, error: bool = False) -> None:
        """One line under the progress bar (a failure or cancel)."""
        stage = self.query_one("#matmul-stage", Static)
        stage.update(Text(printable(line), style="bold red" if error else "dim"))
        stage.display = True

    def show_diagnosis(self, diagnosis, observed_path: str = "", input_path: str = "",
                       stale: Optional[str] = None) -> None:
        """Show a diagnosis of the selected tensor (ranked hypotheses), or hide the section; ``stale`` marks one
        made under other settings."""
        section = self.query_one("#matmul-diagnosis", Static)
        section.display = diagnosis is not None
        if diagnosis is None:
            section.update("")
            return
        body = diagnosis_text(diagnosis, observed_path, input_path)
        section.update(Group(stale_text("diagnosis", stale), body) if stale else body)

    def show_result(self, comparison, notices, tensor_name: str = "", stale: Optional[str] = None,
                    empty: Optional[str] = None) -> None:
        """Show a comparison, or say that the tensor has none yet (or, ``empty``, why it can have none).

        ``stale`` says how the settings that made ``comparison`` differ from
        the current ones; the result is then shown under a STALE banner.
        """
        table = self.query_one("#matmul-worst", DataTable)
        table.clear()
        self._comparison = comparison
        self._show_notes()
        if comparison is None:
            if empty:
                hint = Text(f"no matmul: {printable(empty)}", style="bold yellow")
            else:
                hint = Text(f"no matmul for {printable(tensor_name)} yet: press m" if tensor_name
                            else "select a tensor, then press m", style="dim")
            self.query_one("#matmul-results", Static).update(hint)
            self.query_one("#matmul-histogram", Static).update("")
            table.display = False
            return
        results = results_text(comparison, notices)
        # A Group, not Text + Text: the banner's style must not spread over the result.
        self.query_one("#matmul-results", Static).update(Group(stale_text("result", stale), results) if stale
                                                         else results)
        import numpy as np

        from layoutscope.report.histogram import error_histogram
        from layoutscope.report.numbers import float_text

        for w in comparison.metrics.worst[:10]:
            table.add_row(str(w.m), str(w.n), float_text(w.reference), float_text(w.value), f"{w.abs_err:.4g}")
        table.display = True
        with np.errstate(invalid="ignore"):  # inf - inf: counted on the histogram's nan/inf line
            err = comparison.y.astype("float64") - comparison.y_reference.astype("float64")
        hist = Text("|error| histogram (log bins)\n", style="bold")
        hist.append("\n".join(error_histogram(err, bins=8, width=20)))
        self.query_one("#matmul-histogram", Static).update(hist)
