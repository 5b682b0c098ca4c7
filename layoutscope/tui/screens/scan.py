"""The Scan screen: every matmul weight of the model through the NPU side and the CPU, worst first.

It runs :class:`layoutscope.analyses.scan.Scanner` with the main screen's settings in a
thread worker that only posts messages (one per finished weight, one at the
end). The handlers here fill the table, and record every row in the main
screen's VerdictStore (source ``scan``, with the settings it ran with), so the
tensor tree shows the scan's verdicts and ``n`` / ``N`` walk them. The screen
is installed once and kept, so a scan goes on (and its results stay) while the
user is back on the main screen; when the settings change meanwhile, the
table says its rows are stale.

Tensors with a zero dimension never reach the scan (ggml would abort the whole
process on them): they are listed as skipped with the reason.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from layoutscope.report.numbers import nmse_text
from layoutscope.report.scan_text import advice_lines, layer_lines, skipped_lines
from layoutscope.measure.session import in_field_words
from layoutscope.errors import printable
from layoutscope.tui import messages as msg
from layoutscope.tui.survival import Survives, error_text, failure_line
from layoutscope.tui.widgets.matmul_panel import STALE_STYLE, VERDICT_STYLE
from layoutscope.tui.widgets.text_view import TextView
from layoutscope.tui.screens.help import HelpScreen
from layoutscope.tui.screens.settings import SettingsScreen

#: Columns of the results table: (key, label).
COLUMNS = (("tensor", "tensor"), ("type", "type"), ("kn", "K×N"), ("weight", "weight NMSE"),
           ("nmse", "matmul NMSE"), ("verdict", "verdict"))
#: The narrowest the tensor column gets; other columns are never cut (the verdict is the point of the table).
MIN_TENSOR_WIDTH = 12
#: A DataTable cell's padding, left and right.
CELL_PADDING = 2


class TensorCell(Text):
    """A tensor's cell: the name as shown (escaped, ``.weight`` dropped, cut to the column) and the real one."""

    def __init__(self, tensor: str, width: int) -> None:
        shown = printable(tensor.removesuffix(".weight"))
        super().__init__(shown if len(shown) <= width else shown[: max(1, width - 1)] + "…")
        self.tensor = tensor


def duration_text(seconds: float) -> str:
    """``42 s`` or ``3 min 5 s``: an ETA, to the second."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def verdict_text(verdict: str) -> Text:
    """A verdict in its colour (the word itself reads without colour)."""
    return Text(verdict, style=VERDICT_STYLE.get(verdict, ""))


class ScanScreen(Survives, Screen):
    """Scan every matmul weight with the main screen's settings; enter on a row goes to that tensor."""

    BINDINGS = [
        Binding("r", "start", "run scan"),
        Binding("s", "settings", "settings"),
        Binding("escape", "escape", "cancel/back"),
        Binding("question_mark", "help", "help"),
        Binding("q", "back", "back"),
    ]
    #: Threads measuring weights (None: one per CPU core).
    JOBS: Optional[int] = None

    def __init__(self, main) -> None:
        super().__init__()
        self.main = main
        self.report = None
        self._badness: dict[str, float] = {}
        self._cancel: Optional[threading.Event] = None
        self._started = 0.0
        self._bands: tuple = ()
        self._targets: list = []
        self._skipped: list = []
        #: The settings the table's rows were scanned with (None before the first scan).
        self._scanned_with = None
        self._tensor_width = MIN_TENSOR_WIDTH

    def compose(self) -> ComposeResult:
        yield Static("", id="scan-title")
        yield Static("", id="scan-settings")
        with Horizontal(id="scan-progress-row"):
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="scan-progress")
            yield Static("", id="scan-stage")
        yield DataTable(id="scan-table", cursor_type="row", zebra_stripes=True)
        yield TextView(id="scan-summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from layoutscope.analyses.scan import scan_targets

        # Names and shapes only (no tensor data): cheap enough for the UI thread.
        # Tensors without data (a zero dimension) are skipped there with their reason: ggml never sees them.
        self._targets, self._skipped = scan_targets(self.main.model)
        # Widths from every weight the scan will list, so that columns do not jump as rows arrive.
        widest = {"tensor": max((len(TensorCell(t.name, 10**6)) for t in self._targets), default=0),
                  "type": max((len(t.type.name) for t in self._targets), default=0),
                  "kn": max((len(f"{t.ne[0]}×{t.ne[1]}") for t in self._targets), default=0),
                  "nmse": len("matmul NMSE"), "weight": len("weight NMSE"), "verdict": len("degraded")}
        widths = {key: max(len(label), widest.get(key, 0)) for key, label in COLUMNS}
        # The tensor column takes what the others leave (at 80 columns "degraded" must show whole).
        others = sum(w + CELL_PADDING for key, w in widths.items() if key != "tensor")
        room = self.app.size.width - 1 - others - CELL_PADDING  # 1: the vertical scrollbar
        self._tensor_width = widths["tensor"] = max(MIN_TENSOR_WIDTH, min(widths["tensor"], room))
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key, width=widths[key])
        self._show_settings()
        self._set_running(False)
        self._stage(f"r runs the scan of {len(self._targets)} matmul weights · s changes the settings", dim=True)
        self._show_summary()
        table.focus()

    def on_screen_resume(self) -> None:
        self._show_settings()  # the settings may have changed on the main screen
        self._say_if_stale()

    def _say_if_stale(self) -> None:
        """Say so when the table's rows were scanned with settings other than the current ones."""
        made_with = self._scanned_with
        if self.running or made_with is None or made_with.fingerprint == self.main.settings.fingerprint:
            return
        changes = "; ".join(made_with.differences(self.main.settings))
        self._stage(f"stale: these rows were scanned with other settings ({changes}) · r rescans", stale=True)

    # -- display ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a scan worker is running."""
        return any(w.group == "scan" and w.is_running for w in self.workers)

    def _show_settings(self) -> None:
        s, side = self.main.settings, self.main.npu_side
        backend = side.name if side is not None and s.backend == "auto" else s.backend
        path = os.path.basename(self.main.path)
        self.query_one("#scan-title", Static).update(Text.assemble(
            ("Scan ", "bold"), printable(f"{path}: {len(self._targets)} matmul weights, {len(self._skipped)} other "
                                         "tensors skipped")), layout=False)
        self.query_one("#scan-settings", Static).update(Text("\n".join(printable(line) for line in (
            f"{backend} vs {s.reference} · {s.platform} · mm {s.mm} · weights {s.weight_quant} · acts {s.act_quant}",
            f"input {s.input}, {s.rows} row(s) · threshold NMSE {s.threshold:g} · enter on a row goes to it")),
            style="dim"))

    def _stage(self, line: str, error: bool = False, dim: bool = False, stale: bool = False) -> None:
        style = "bold red" if error else (STALE_STYLE if stale else ("dim" if dim else "bold"))
        self.query_one("#scan-stage", Static).update(Text(printable(line), style=style), layout=False)

    def _set_running(self, running: bool) -> None:
        self.query_one("#scan-progress", ProgressBar).display = running

    def _show_summary(self) -> None:
        parts: list = []
        report = self.report
        if report is not None and report.rows:
            layers = report.layers()
            advice = advice_lines(layers, report.options.bands, report.end_to_end, report.kld_ok)
            if advice:
                parts += [Text(line, style="bold") for line in advice] + [Text("")]
            parts += [Text(printable(line)) for line in layer_lines(layers)] + [Text("")]
            parts += [Text(f"note: {printable(self._short_notice(n))}", style="dim") for n in report.notices]
        parts.append(Text(f"skipped ({len(self._skipped)}): not matmul weights, or no data", style="bold"))
        parts += [Text(printable(line)) for line in skipped_lines(self._skipped, top=len(self._skipped))]
        self.query_one("#scan-summary", TextView).update(Group(*parts))

    def _short_notice(self, notice: str) -> str:
        # Why the NPU is unavailable takes several lines; the Matmul panel's notes hold it.
        if notice.startswith("ran npu-sim") and "unavailable" in notice:
            return "npu-sim ran: the NPU is unavailable (the Matmul panel's notes say why)"
        return notice

    # -- actions --------------------------------------------------------------------------
    def action_start(self) -> None:
        """Start (or restart) the scan with the main screen's current settings."""
        if self.running:
            self._stage("a scan is running: esc cancels it first", error=True)
            return
        self.report = None
        self._badness = {}
        self.query_one(DataTable).clear()
        self._show_settings()
        self._show_summary()
        self._cancel = threading.Event()
        self._started = time.monotonic()
        bar = self.query_one("#scan-progress", ProgressBar)
        bar.update(total=len(self._targets), progress=0)
        self._set_running(True)
        self._stage(f"0 of {len(self._targets)} · starting (esc cancels)")
        from layoutscope.analyses.scan import ScanOptions

        self._scanned_with = self.main.settings
        options = ScanOptions.of(self._scanned_with)
        self._bands = options.bands
        self._scan(self.main.model, options, self.JOBS or os.cpu_count() or 1, self._cancel)

    def action_escape(self) -> None:
        """Cancel a running scan (finished rows stay), or go back to the main screen."""
        if self.running:
            # The Scanner stops within a fraction of a second and returns its finished rows; the worker
            # itself is not cancelled, so that its final message (the partial report) still arrives.
            self.stop()
            self._stage("cancelling … (the finished rows stay)")
        else:
            self.action_back()

    def stop(self) -> None:
        """Ask a running scan to stop (it returns its finished rows); used when the app quits."""
        if self._cancel is not None:
            self._cancel.set()

    def action_back(self) -> None:
        """Back to the main screen (a running scan goes on)."""
        self.app.pop_screen()

    def action_settings(self) -> None:
        """Edit the app's matmul settings, which the next scan uses."""
        def chosen(settings) -> None:
            if settings is not None:
                self.main.apply_settings(settings)
                self._show_settings()
                self._say_if_stale()

        self.app.push_screen(SettingsScreen(self.main.settings, self.main.availability, self.main.model),
                             self.guard(chosen))

    def action_help(self) -> None:
        """Show the key table."""
        self.app.push_screen(HelpScreen())

    # -- the worker (computes only; posts messages) -------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def _scan(self, model, options, jobs: int, cancel: threading.Event) -> None:
        from layoutscope.analyses.scan import Scanner

        try:
            # The same real input as the Matmul panel: one capture per model, input and rows, shared.
            real = self.main.real_input_plan(model, self.main.settings, "the scan", cancel.is_set)
            scanner = Scanner(model, options, jobs=jobs, real=real)
            scanner.cancelled = cancel  # the screen's esc sets it
            report = scanner.run(lambda row, done, total: self.post_message(msg.ScanRowDone(row, done, total)))
        except Exception as exc:  # noqa: BLE001 - e.g. a bad input setting: shown, the app keeps running
            self.post_message(msg.ScanFailed(in_field_words(error_text(exc))))
            return
        self.post_message(msg.ScanFinished(report))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self._set_running(False)
            self._stage(failure_line(event.worker.error, "scan"), error=True)

    # -- message handlers ---------------------------------------------------------------
    def on_scan_row_done(self, message: msg.ScanRowDone) -> None:
        r = message.row
        self.main.record_scan_row(r, self._bands, self._scanned_with)
        self._badness[r.tensor] = float("inf") if r.nmse != r.nmse else r.nmse
        table = self.query_one(DataTable)
        table.add_row(TensorCell(r.tensor, self._tensor_width), Text(r.type), f"{r.K}×{r.N}",
                      nmse_text(r.weight_nmse), nmse_text(r.nmse), verdict_text(r.verdict), key=r.tensor)
        # Worst first; the name breaks exact ties, so the order does not depend on which thread finished first.
        table.sort("tensor", key=lambda cell: (self._badness[cell.tensor], cell.tensor), reverse=True)
        self.query_one("#scan-progress", ProgressBar).update(total=message.total, progress=message.done)
        elapsed = time.monotonic() - self._started
        eta = elapsed / message.done * (message.total - message.done) if message.done else 0.0
        line = f"{message.done} of {message.total} · {r.tensor} {r.verdict} · ETA {duration_text(eta)}"
        self._stage(line)
        self.main.set_status(f"scan: {line} · S shows it", lasting=True)

    def on_scan_finished(self, message: msg.ScanFinished) -> None:
        self.report = report = message.report
        self._set_running(False)
        rows = report.primary
        scanned = len({r.tensor for r in report.rows})
        if report.interrupted:
            line = f"cancelled after {scanned} of {report.total}: the table keeps the finished rows"
        elif rows:
            worst = rows[0]
            line = f"done: {scanned} of {report.total} · worst {worst.tensor} {worst.verdict.upper()} {nmse_text(worst.nmse)}"
        else:
            line = "done: this model has no matmul weights to scan"
        self._stage(line, dim=not report.interrupted)
        self.main.set_status(f"scan {line}")
        self._say_if_stale()
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=0)
        self._show_summary()

    def on_scan_failed(self, message: msg.ScanFailed) -> None:
        self._set_running(False)
        self._stage(f"scan failed: {message.line}", error=True)
        self.main.set_status(f"scan failed: {message.line}", error=True)

    @on(DataTable.RowSelected, "#scan-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        self.app.pop_screen()
        self.main.jump_to(name)
