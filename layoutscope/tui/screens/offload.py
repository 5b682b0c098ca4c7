"""The Offload screen: which layers go to the NPU, on which pipeline, measured end to end in llama.cpp.

It runs, one at a time in a thread worker over one llama.cpp session
(:mod:`.offload_workers`): the first-k sweep (k leading layers on the NPU
side), the pipelines sweep (each community pipeline on every offloadable
weight), the per-layer sensitivity (each layer alone on each pipeline) and
the planner. A plot shows the last one (``v`` cycles the plots); the table
lists each layer's pipeline in the current assignment and its measured KL
divergence per pipeline. ``t`` / ``T`` move a layer / a weight to the next
pipeline, ``r`` measures the assignment, ``x`` writes it as ``plan.json``
with the sweeps (JSON, CSV). Once there is an assignment, the main screen's
tree tags every matmul weight with its pipeline.

The screen is installed once and kept, like the Scan screen, so its results
and its session survive going back to the main screen.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Optional

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from layoutscope.errors import printable
from layoutscope.planning.costs import CHEAPEST_FIRST
from layoutscope.report.chart import column_chart
from layoutscope.tui import messages as msg
from layoutscope.tui.screens import offload_workers as jobs
from layoutscope.tui.screens.help import OFFLOAD_KEYS, HelpScreen
from layoutscope.tui.screens.offload_workers import OffloadWorkers
from layoutscope.tui.screens.prompt import PromptScreen
from layoutscope.tui.survival import Survives, failure_line
from layoutscope.tui.widgets.plot import Plot, bar, bar_chart, kld_text, log_range, side_by_side
from layoutscope.tui.widgets.tensor_tree import pipeline_tag, tag_style

#: The planner's default budget on the whole plan's mean KL divergence (as ``layoutscope plan``).
BUDGET = 0.01
#: What ``t`` / ``T`` cycle through: the CPU, then every pipeline from cheapest to dearest.
CYCLE = ("CPU", *CHEAPEST_FIRST)
#: The plots ``v`` cycles through, and the key that measures each.
VIEWS = (("first-k", "f"), ("pipelines", "p"), ("sensitivity", "l"))
#: What the screen says about the behaviours it models but could not confirm on a board.
UNCONFIRMED_NOTE = ("UNCONFIRMED on hardware (modelled here): INT4 overflow of the int16 output, FP16 "
                    "accumulation, and the calibration search's int8 wrap")
#: The height of the charts against k.
CHART_HEIGHT = 6


def quality_line(q) -> str:
    """KLD mean, p99, top-1 and ΔPPL of a Quality, as one line."""
    delta = q.ppl_candidate - q.ppl_reference
    return (f"KLD mean {kld_text(q.kld_mean)} · p99 {kld_text(q.kld_p99)} · top-1 {percent(q.top1_agreement)} · "
            f"ΔPPL {delta:+.3f}")


def percent(share: float) -> str:
    """``96.1%`` (``n/a`` when not measured)."""
    return "n/a" if share is None or not math.isfinite(share) else f"{share:.1%}"


class OffloadScreen(Survives, OffloadWorkers, Screen):
    """Sweeps, sensitivity and a plan of which layers go to the NPU; toggles and re-evaluation of the assignment."""

    BINDINGS = [
        Binding("f", "first_k", "first-k"),
        Binding("p", "pipelines", "pipes"),
        Binding("l", "sensitivity", "layers"),
        Binding("a", "plan", "plan"),
        Binding("b", "budget", "budget", show=False),
        Binding("t", "toggle", "toggle"),
        Binding("T", "toggle_tensor", "toggle tensor", show=False),
        Binding("r", "evaluate", "eval"),
        Binding("x", "export", "export"),
        Binding("v", "view", "plot", show=False),
        Binding("w", "weights", "tensors", show=False),
        Binding("escape", "escape", "back"),
        Binding("question_mark", "help", "help", show=False),
        Binding("q", "back", "back", show=False),
    ]

    def __init__(self, main) -> None:
        super().__init__()
        self.main = main
        self.init_workers()
        #: What the open job found: engine facts, llama.cpp's matmul weights, the layers (units), kept weights.
        self.about: Optional[dict] = None
        self.first_k: Optional[list] = None
        self.pipelines: Optional[list] = None
        self.sensitivity: Optional[list] = None
        #: Weight → pipeline of the weights on the NPU side (None until a plan or a toggle makes one).
        self.assignment: Optional[dict] = None
        #: ``(assignment, Quality)`` of the last evaluation of an assignment.
        self.measured: Optional[tuple] = None
        self.plan_result = None
        self.view = "first-k"
        self.show_weights = False
        self.budget = BUDGET

    def compose(self) -> ComposeResult:
        yield Static("", id="offload-title")
        yield Static(Text(UNCONFIRMED_NOTE, style="bold yellow"), id="offload-note")
        with Horizontal(id="offload-progress-row"):
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="offload-progress")
            yield Static("", id="offload-stage")
        yield DataTable(id="offload-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="offload-result")
        yield Plot(id="offload-plot")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # 79 columns at most with the cells' padding: the table fits 80 without scrolling sideways.
        table.add_column("layer", key="unit", width=11)
        table.add_column("on", key="pipeline", width=4)
        for pipeline in CHEAPEST_FIRST:
            table.add_column(pipeline_tag(pipeline), key=pipeline, width=8)
        self._show_title()
        self._show_result()
        self._show_plot()
        self._set_running(True)
        self._stage("loading the model in llama.cpp …")
        self.start_job("open", jobs.open_job)
        table.focus()

    def on_unmount(self) -> None:
        self.shutdown()

    def on_screen_resume(self) -> None:
        if self.session is not None and self.session_fingerprint != self.main.settings.fingerprint:
            self._stage("the settings changed: the next job reloads the model with them; the figures shown were "
                        "measured with the earlier ones", error=True)

    # -- display --------------------------------------------------------------------------------------------
    def _show_title(self) -> None:
        path = os.path.basename(self.main.path)
        line = f"Offload {path}"
        if self.about is not None:
            a = self.about
            backend = (self.session.backend_name if self.session is not None else "") or self.main.settings.backend
            chunks = f" in {a['chunks']} chunks" if a["chunks"] != 1 else ""
            line += (f" · {a['facts'].n_layer} layers, {len(a['weights'])} weights · {a['tokens']} tok{chunks} · "
                     f"{backend}")
        self.query_one("#offload-title", Static).update(Text(printable(line), style="bold"), layout=False)

    def _stage(self, line: str, error: bool = False, dim: bool = False) -> None:
        style = "bold red" if error else ("dim" if dim else "bold")
        self.query_one("#offload-stage", Static).update(Text(printable(line), style=style), layout=False)

    def _set_running(self, running: bool) -> None:
        self.query_one("#offload-progress", ProgressBar).display = running

    def _unit_pipeline(self, unit) -> str:
        """The pipeline tag every weight of ``unit`` has (``CPU`` when none is offloaded, ``mix`` otherwise)."""
        assignment = self.assignment or {}
        tags = {pipeline_tag(assignment.get(name)) for name in unit.names}
        return tags.pop() if len(tags) == 1 else "mix"

    def _measured_kld(self) -> dict:
        """Unit label → {pipeline: Quality} of the sensitivity measured so far."""
        return {row.unit.label: row.measured for row in self.sensitivity or ()}

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        keep = self._cursor_key()
        table.clear()
        if self.about is None:
            return
        measured = self._measured_kld()
        for unit in self.about["units"]:
            tag = self._unit_pipeline(unit)
            cells = [Text(unit.label, style="bold"), Text(tag, style=tag_style(tag))]
            for pipeline in CHEAPEST_FIRST:
                q = measured.get(unit.label, {}).get(pipeline)
                if q is None:
                    cells.append(Text("·", style="dim"))
                else:
                    over = q.kld_mean > self.budget
                    # "!" says over the budget without colour.
                    cells.append(Text(kld_text(q.kld_mean) + ("!" if over else ""), style="red" if over else ""))
            table.add_row(*cells, key=f"u:{unit.label}")
            if self.show_weights:
                for name in unit.names:
                    tag = pipeline_tag((self.assignment or {}).get(name))
                    role = name.removeprefix(f"{unit.label}.").removesuffix(".weight")
                    table.add_row(Text(f"  {printable(role)}"), Text(tag, style=tag_style(tag)),
                                  *[""] * len(CHEAPEST_FIRST), key=f"w:{name}")
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep))
            except Exception:  # noqa: BLE001 - the row is gone (weights hidden): the cursor stays where it was
                pass

    def _cursor_key(self) -> Optional[str]:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _show_result(self) -> None:
        widget = self.query_one("#offload-result", Static)
        if self.about is None or self.assignment is None:
            widget.update(Text("no assignment yet: a plans one · t toggles a layer · r measures", style="dim"))
            return
        counts = Counter(pipeline_tag(p) for p in self.assignment.values())
        total = len(self.about["weights"])
        where = ", ".join(f"{tag} {n}" for tag, n in sorted(counts.items())) or "all on the CPU"
        line = Text(f"assignment: {len(self.assignment)} of {total} weights on the NPU ({where}) · ")
        if self.measured is not None and self.measured[0] == self.assignment:
            line.append(quality_line(self.measured[1]), style="bold")
        else:
            line.append("not measured: r evaluates it", style="yellow")
        widget.update(line)

    def _plot_room(self) -> int:
        plot = self.query_one(Plot)
        width = plot.scrollable_content_region.width
        return max(40, width if width > 0 else self.app.size.width - 3)

    def _show_plot(self) -> None:
        plot = self.query_one(Plot)
        keys = " · ".join(f"{k} {name}" for name, k in VIEWS)
        lines = {"first-k": self._first_k_lines, "pipelines": self._pipeline_lines,
                 "sensitivity": self._sensitivity_lines}[self.view]()
        plot.show(lines, note=f"v next plot · measure: {keys} · a plan")

    def _first_k_lines(self) -> list[str]:
        rows = self.first_k
        if not rows:
            return ["first-k: k leading layers on the NPU side", "not measured yet: f runs the sweep"]
        ks = [r["k"] for r in rows]
        kld = column_chart(ks, [r["kld_mean"] for r in rows], "KLD mean vs k", height=CHART_HEIGHT,
                           y_text=kld_text)
        agreement = [r["top1_agreement"] for r in rows]
        # From the tenth below the lowest agreement: 0..100% would flatten the differences that matter.
        floor = math.floor(10 * min((a for a in agreement if math.isfinite(a)), default=0.0)) / 10
        top1 = column_chart(ks, agreement, "top-1 agreement vs k", height=CHART_HEIGHT,
                            low=min(floor, 0.9), high=1.0, y_text=lambda v: f"{v:.0%}")
        lines = [f"first-k sweep on {rows[0]['pipeline']}: k leading layers on the NPU side"]
        lines += side_by_side([kld, top1], self._plot_room())
        lines.append(f"{'k':>3} {'weights':>7} {'KLD mean':>9} {'p99':>9} {'top-1':>7} {'ΔPPL':>9}")
        lines += [f"{r['k']:>3} {r['weights']:>7} {kld_text(r['kld_mean']):>9} {kld_text(r['kld_p99']):>9} "
                  f"{percent(r['top1_agreement']):>7} {r['delta_ppl']:>+9.3f}" for r in rows]
        return lines

    def _pipeline_lines(self) -> list[str]:
        rows = self.pipelines
        if not rows:
            return ["pipelines: each pipeline on every offloadable weight", "not measured yet: p runs the sweep"]
        low, high = log_range([r["kld_mean"] for r in rows])
        lines = [f"pipelines sweep: each pipeline on all {rows[0]['weights']} offloadable weights",
                 f"{'pipeline':<15} {'KLD mean':>8} {'p99':>8} {'top-1':>6} {'ΔPPL':>8}  KLD mean, log "
                 f"{low:.0e}..{high:.0e}"]
        for r in rows:
            lines.append(f"{r['pipeline']:<15} {kld_text(r['kld_mean']):>8} {kld_text(r['kld_p99']):>8} "
                         f"{percent(r['top1_agreement']):>6} {r['delta_ppl']:>+8.3f}  "
                         f"│{bar(r['kld_mean'], low, high, 16)}")
        return lines

    def _sensitivity_lines(self) -> list[str]:
        if not self.sensitivity:
            return ["sensitivity: each layer alone on each pipeline", "not measured yet: l measures it"]
        labels = [row.unit.label for row in self.sensitivity]
        everything = [q.kld_mean for row in self.sensitivity for q in row.measured.values()]
        low, high = log_range(everything)
        charts = [bar_chart(labels, [row.kld(p) if p in row.measured else math.nan for row in self.sensitivity],
                            p, width=14, low=low, high=high, budget=self.budget)
                  for p in CHEAPEST_FIRST if any(p in row.measured for row in self.sensitivity)]
        return ["sensitivity: KLD with each layer alone on the NPU, per pipeline"] + side_by_side(
            charts, self._plot_room())

    def _publish_assignment(self) -> None:
        """Redraw what depends on the assignment: the table, the result line, the main screen's tree tags."""
        self._fill_table()
        self._show_result()
        if self.assignment is not None and self.about is not None:
            self.main.show_plan({name: pipeline_tag(self.assignment.get(name)) for name in self.about["weights"]})

    # -- actions ----------------------------------------------------------------------------------------------
    def _start(self, job: str, compute, *args, what: str = "") -> None:
        if self.about is None and job != "open":
            if self.busy:
                self._stage("the model is still loading in llama.cpp: a moment", error=True)
            else:  # loading failed: try again (the settings may have changed since)
                self._start("open", jobs.open_job, what="loading the model in llama.cpp")
            return
        if not self.start_job(job, compute, *args):
            self._stage("a job is running: esc cancels it first", error=True)
            return
        self._set_running(True)
        self.query_one("#offload-progress", ProgressBar).update(total=None, progress=0)
        self._stage(f"{what or job}: starting (esc cancels)")

    def action_first_k(self) -> None:
        """The first-k sweep under the settings' pipeline (W8A8_STANDARD when it is classic)."""
        pipeline = jobs.first_k_pipeline(self.main.settings)
        self._start("first-k", jobs.first_k_job, pipeline, what=f"first-k sweep on {pipeline}")

    def action_pipelines(self) -> None:
        """Each of the six pipelines on every offloadable weight."""
        self._start("pipelines", jobs.pipelines_job, what="pipelines sweep")

    def action_sensitivity(self) -> None:
        """Each layer alone on each pipeline."""
        if self.about is not None:
            self._start("sensitivity", jobs.sensitivity_job, self.about["units"], self.budget,
                        what="per-layer sensitivity")
        else:
            self._start("sensitivity", None)  # says the model is loading (or loads it again)

    def action_plan(self) -> None:
        """The planner: the most bytes on the NPU within the budget, verified."""
        self._start("plan", jobs.plan_job, self.budget, what=f"planning within KLD {self.budget:g}")

    def action_evaluate(self) -> None:
        """Measure the current assignment (all on the CPU when there is none yet)."""
        assignment = dict(self.assignment or {})
        self._start("assignment", jobs.assignment_job, assignment,
                    what=f"evaluating the assignment ({len(assignment)} weights on the NPU)")

    def _selected_unit(self):
        key = self._cursor_key()
        if key is None or self.about is None:
            return None, None
        kind, _, name = key.partition(":")
        if kind == "u":
            return next(u for u in self.about["units"] if u.label == name), None
        return next(u for u in self.about["units"] if name in u.names), name

    def _cycle(self, names: tuple, label: str) -> None:
        assignment = dict(self.assignment or {})
        tags = {assignment.get(n, "CPU") for n in names}
        now = tags.pop() if len(tags) == 1 else "CPU"  # a mixed layer starts over from the CPU
        after = CYCLE[(CYCLE.index(now) + 1) % len(CYCLE)]
        for n in names:
            if after == "CPU":
                assignment.pop(n, None)
            else:
                assignment[n] = after
        self.assignment = assignment
        self._publish_assignment()
        self._stage(f"{label} → {after} · r measures the assignment", dim=True)

    def action_toggle(self) -> None:
        """Move the selected layer (every weight of it) to the next pipeline: CPU → W4A4_STANDARD → … → CPU."""
        unit, _ = self._selected_unit()
        if unit is None:
            self._stage("no layer selected (the model is still loading)", error=True)
            return
        self._cycle(unit.names, unit.label)

    def action_toggle_tensor(self) -> None:
        """Move the selected weight alone to the next pipeline (w shows the weights)."""
        unit, name = self._selected_unit()
        if name is None:
            self._stage("T moves one weight: w shows each layer's weights, then pick one", error=True)
            return
        self._cycle((name,), name)

    def action_weights(self) -> None:
        """Show or hide each layer's weights in the table."""
        self.show_weights = not self.show_weights
        self._fill_table()

    def action_view(self) -> None:
        """Show the next plot."""
        names = [name for name, _ in VIEWS]
        self.view = names[(names.index(self.view) + 1) % len(names)]
        self._show_plot()

    def action_budget(self) -> None:
        """Ask for the KLD budget of the planner, the sensitivity bars and the table's ``!`` marks."""
        from layoutscope.errors import UsageError
        from layoutscope.measure.settings import positive_float

        def chosen(text) -> None:
            if text is None or not text.strip():
                return
            try:
                # The CLI's own check and words (plan --kld-budget).
                self.budget = positive_float(text.strip(), "budget", example="0.01")
            except UsageError as exc:
                self._stage(str(exc), error=True)
                return
            self._stage(f"KLD budget {self.budget:g}: a plans within it (figures measured stay; "
                        "a plan made before is not re-made)")
            self._fill_table()
            self._show_plot()

        self.app.push_screen(PromptScreen("the mean KL divergence budget of a plan:", f"{self.budget:g}",
                                          "a positive number, e.g. 0.01 · enter sets it · esc cancels"),
                             self.guard(chosen))

    def action_escape(self) -> None:
        """Cancel the running job, or go back to the main screen."""
        if self.cancel_job():
            self._stage("cancelling … (the results shown stay)")
        else:
            self.action_back()

    def action_back(self) -> None:
        """Back to the main screen (a running job goes on)."""
        self.app.pop_screen()

    def action_help(self) -> None:
        """Show the keys, this screen's first."""
        self.app.push_screen(HelpScreen(OFFLOAD_KEYS))

    def action_export(self) -> None:
        """Ask for a path prefix; write plan.json and the sweeps (JSON, CSV) there, each atomically."""
        if self.assignment is None and not (self.first_k or self.pipelines or self.sensitivity):
            self._stage("nothing to export yet: measure something (f, p, l) or plan (a) first", error=True)
            return
        default = os.path.splitext(os.path.basename(self.main.path))[0] + ".offload"
        files = self._export_files()

        def chosen(prefix) -> None:
            if prefix and prefix.strip():
                self._stage(f"exporting to {prefix.strip()}.* …")
                self._export(prefix.strip(), files)

        names = ", ".join(files)
        self.app.push_screen(PromptScreen(f"export {names} to the path prefix:", default,
                                          "enter writes each file (atomically) · esc cancels"), self.guard(chosen))

    def _export_files(self) -> dict:
        """Suffix → a function writing that file, for what was measured (the plan when there is an assignment)."""
        from layoutscope.measure.jsonable import write_json
        from layoutscope.report.offload_tables import FIRST_K_COLUMNS, PIPELINES_COLUMNS, SENSITIVITY_COLUMNS, \
            sensitivity_rows, sweeps_dict, write_rows_csv
        from layoutscope.report.plan_report import quality_dict

        def as_json(data):
            return lambda stream: write_json(stream, data)

        files: dict = {}
        measured = None
        if self.measured is not None and self.measured[0] == self.assignment:
            measured = quality_dict(self.measured[1])
        if self.assignment is not None:
            files[".plan.json"] = as_json(self._plan_data(measured))
        sensitivity = sensitivity_rows(self.sensitivity) if self.sensitivity else None
        context = {} if self.about is None else {"text": self.about["text"], "chunks": self.about["chunks"],
                                                 "engine": self.about["facts"].to_dict(), "kld_budget": self.budget}
        files[".sweeps.json"] = as_json(sweeps_dict(os.path.basename(self.main.path), context, self.first_k,
                                                    self.pipelines, sensitivity, self.assignment, measured))
        for suffix, columns, rows in ((".first-k.csv", FIRST_K_COLUMNS, self.first_k),
                                      (".pipelines.csv", PIPELINES_COLUMNS, self.pipelines),
                                      (".sensitivity.csv", SENSITIVITY_COLUMNS, sensitivity)):
            if rows:
                files[suffix] = lambda stream, c=columns, r=rows: write_rows_csv(stream, c, r)
        return files

    def _plan_data(self, measured: Optional[dict]) -> dict:
        """The plan file's JSON (``plan -o``'s format): the assignment, and its measurement when it was measured."""
        from layoutscope.planning.plan_file import plan_for
        from layoutscope.report.plan_report import plan_details

        settings = self.session.settings if self.session is not None else self.main.settings
        figures = {}
        if measured is not None and self.about is not None:
            figures = {"text": self.about["text"], "chunks": self.about["chunks"], "ctx": self.about["facts"].ctx,
                       "scoring": "all", **measured}
        planned = self.plan_result is not None and self.plan_result.assignment == self.assignment
        details = plan_details(self.plan_result) if planned else {"edited": "by hand in the TUI's Offload screen"}
        return plan_for(self.main.model, self.assignment, settings, self.budget, figures, details).to_dict()

    # -- message handlers ---------------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The workers catch what a job raises; this is for a bug outside that (still one line, never fatal).
        if event.state == WorkerState.ERROR:
            self._set_running(False)
            line = failure_line(event.worker.error, event.worker.group)
            self._stage(line, error=True)
            self.main.set_status(line, error=True)

    def on_offload_progress(self, message: msg.OffloadProgress) -> None:
        self.query_one("#offload-progress", ProgressBar).update(total=message.total, progress=message.done)
        self._stage(f"{message.job}: {message.label} · {message.done} of {message.total} decodes (esc cancels)")

    def on_offload_failed(self, message: msg.OffloadFailed) -> None:
        if message.job != "export":  # an export runs beside the jobs and has no bar
            self._set_running(False)
        self._stage(message.line, error=not message.cancelled, dim=message.cancelled)
        if not message.cancelled:
            self.main.set_status(f"offload: {message.line}", error=True)
            self.app.notify(message.line, severity="error", timeout=10, markup=False)

    def on_offload_finished(self, message: msg.OffloadFinished) -> None:
        if message.job != "export":
            self._set_running(False)
        getattr(self, "_finished_" + message.job.replace("-", "_"))(message.result)
        self._show_title()

    def _finished_open(self, about: dict) -> None:
        self.about = about
        kept = f" · {len(about['kept'])} weight(s) kept on the CPU (type)" if about["kept"] else ""
        self._fill_table()
        self._stage(f"ready: f first-k sweep · p pipelines · l per-layer sensitivity · a plan{kept}", dim=True)

    def _finished_first_k(self, rows: list) -> None:
        self.first_k = rows
        self.view = "first-k"
        self._show_plot()
        last = rows[-1]
        self._stage(f"first-k done on {last['pipeline']} · k={last['k']}: KLD {kld_text(last['kld_mean'])}, "
                    f"top-1 {percent(last['top1_agreement'])}", dim=True)

    def _finished_pipelines(self, rows: list) -> None:
        self.pipelines = rows
        self.view = "pipelines"
        self._show_plot()
        best = min(rows, key=lambda r: r["kld_mean"])
        self._stage(f"pipelines done: least KLD {best['pipeline']} {kld_text(best['kld_mean'])}", dim=True)

    def _finished_sensitivity(self, table: list) -> None:
        self.sensitivity = table
        self.view = "sensitivity"
        self._fill_table()
        self._show_plot()
        self._stage(f"sensitivity done: {len(table)} layers × {len(CHEAPEST_FIRST)} pipelines "
                    f"(! over the budget {self.budget:g})", dim=True)

    def _finished_plan(self, result) -> None:
        self.plan_result = result
        if self.sensitivity is None:
            self.sensitivity = result.sensitivity
        else:  # keep the exhaustive measurements, add what the planner measured besides
            theirs = {row.unit.label: row.measured for row in result.sensitivity}
            for row in self.sensitivity:
                for pipeline, q in theirs.get(row.unit.label, {}).items():
                    row.measured.setdefault(pipeline, q)
        self.assignment = dict(result.assignment)
        if result.verified is not None:
            self.measured = (dict(result.assignment), result.verified)
        self._publish_assignment()
        self._show_plot()
        share = result.share("bytes")
        if result.answered:
            self._stage(f"plan: {share:.0%} of the weight bytes on the NPU within KLD {self.budget:g} (verified)",
                        dim=True)
        else:
            unit, pipeline, kld = result.minimum
            self._stage(f"no plan within KLD {self.budget:g}: the least sensitive layer alone is {unit} on "
                        f"{pipeline} at {kld_text(kld)}", error=True)

    def _finished_assignment(self, outcome: tuple) -> None:
        assignment, quality = outcome
        self.measured = (assignment, quality)
        if self.assignment is None:
            self.assignment = dict(assignment)
            self._publish_assignment()
        self._show_result()
        self._stage(f"measured: {len(assignment)} weights on the NPU · {quality_line(quality)}", dim=True)

    def _finished_export(self, outcome: tuple) -> None:
        where, names = outcome
        line = f"wrote {', '.join(names)} in {where}"
        if self.assignment is not None and not (self.measured and self.measured[0] == self.assignment):
            line += " (the plan is not measured: r, then x again, records its figures)"
        self._stage(line, dim=True)
        self.main.set_status(f"offload: {line}")
        self.app.notify(printable(line), timeout=8, markup=False)

    @on(DataTable.RowSelected, "#offload-table")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        kind, _, name = str(event.row_key.value).partition(":")
        if kind == "u" and self.about is not None:
            name = next(u.names[0] for u in self.about["units"] if u.label == name)
        self.app.pop_screen()
        self.main.jump_to(name)
