"""The main screen: the tensor tree on the left, Layout / Values / Matmul / Metadata on the right.

It owns all state (the model, the cursor, settings, verdicts, comparisons).
Every expensive step runs in a thread worker that only computes and posts a
message from ``..messages``; the handlers here change state and widgets.

Every result (a comparison, a diagnosis, a verdict from ``m`` or a scan)
remembers the settings that made it. Results made under other settings stay
visible but are marked stale (``?`` in the tree, ``stale`` in the title, a
banner in the Matmul panel); ``n`` / ``N`` and ``x`` never use them.
"""

from __future__ import annotations

import gc
import os
from collections import OrderedDict
from typing import Optional

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane, Tabs, Tree
from textual.worker import Worker, WorkerState

from layoutscope.errors import UsageError
from layoutscope.backend import npu_side
from layoutscope.measure.session import in_field_words, no_data_reason
from layoutscope.measure.settings import RunSettings
from layoutscope.gguf.name_filter import compile_filter
from layoutscope.errors import printable, quoted
from layoutscope.measure.verdicts import VerdictStore
from layoutscope.tui import messages as msg
from layoutscope.tui.survival import Survives, failure_line
from layoutscope.tui.widgets.layout_panel import LayoutPanel
from layoutscope.tui.widgets.matmul_panel import MatmulPanel
from layoutscope.tui.widgets.metadata_panel import WALKABLE, MetadataPanel
from layoutscope.tui.widgets.tensor_tree import RESIZE_STEP, FilterInput, TensorTree, shape_text, sidebar_width
from layoutscope.tui.widgets.values_grid import ValuesGrid
from layoutscope.tui.screens.help import HelpScreen
from layoutscope.tui.screens.main_workers import MainWorkers
from layoutscope.tui.screens.prompt import PromptScreen

#: Side-by-side sources kept (one per tensor and scheme); each caches a few row chunks.
SIDE_BY_SIDE_KEPT = 4
PANELS = ("layout", "values", "matmul", "metadata")


class MainScreen(Survives, MainWorkers, Screen):
    """Step through a model's tensors and compare them with the NPU side."""

    BINDINGS = [
        Binding("right_square_bracket", "layer(1)", "layer", key_display="]/["),
        Binding("left_square_bracket", "layer(-1)", "previous layer", show=False),
        Binding("n", "bad(1)", "worse", key_display="n/N"),
        Binding("N", "bad(-1)", "previous worse tensor", show=False),
        Binding("m", "matmul", "matmul"),
        Binding("d", "diagnose", "diagnose", show=False),
        Binding("S", "scan", "scan"),
        Binding("O", "offload", "offload", show=False),
        Binding("x", "export_current", "csv"),
        Binding("s", "settings", "settings"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        Binding("slash", "filter", "filter", show=False),
        Binding("g", "goto", "go to", show=False),
        Binding("escape", "cancel", "cancel", show=False),
        Binding("less_than_sign", "sidebar(-1)", "narrower tree", show=False),
        Binding("greater_than_sign", "sidebar(1)", "wider tree", show=False),
        *(Binding(str(i + 1), f"tab('{p}')", p, show=False) for i, p in enumerate(PANELS)),
    ]
    #: Seconds a status line stays before the resting line (the file's summary) comes back.
    STATUS_SECONDS = 6.0
    #: Errors stay longer, so they can be read; they expire too.
    ERROR_SECONDS = 15.0
    #: The tree filter applies this long after the last key (enter applies it at once).
    FILTER_DELAY = 0.3
    #: Told when the opened model's tree (``"tree"``), then the first tensor's panel (``"panel"``), are in the
    #: widgets; it reports the frame that shows them (``tui.start_marker``). None in a normal session.
    start_marker = None

    def __init__(self, path: str, settings: Optional[RunSettings] = None) -> None:
        super().__init__()
        self.path = path
        self.model = None
        self.groups: list = []
        self.order: list[str] = []
        self.current: Optional[str] = None
        self.cursor = (0, 0)
        self.settings = settings or RunSettings()
        self.availability: Optional[list] = None
        self.npu_side = None
        self.verdicts = VerdictStore()
        self.comparisons: dict[str, tuple] = {}
        self.diagnoses: dict[str, tuple] = {}
        #: The settings each stored comparison and diagnosis was made with.
        self.made_with: dict[tuple, RunSettings] = {}
        self._observed_path = ""
        self._input_path = ""
        self._sbs: "OrderedDict[tuple, object]" = OrderedDict()
        self._amax: dict[str, float] = {}
        self._stale: set[str] = set(PANELS)
        self._indexed: set[str] = set()
        self._layers: dict = {}
        self._resting = Text("")
        self._status_timer = None
        self._filter_timer = None
        self._filter_text = ""
        #: Columns the user moved the sidebar by (< / >) from its fitted width; kept for the session.
        self._sidebar_adjust = 0

    # -- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield FilterInput(placeholder="/ filter (regex)", id="filter", compact=True)
                yield TensorTree(id="tree")
            with Vertical(id="main"):
                yield Static(Text(f"opening {printable(self.path)} …"), id="title")
                with TabbedContent(id="tabs", initial="layout"):
                    with TabPane("1 Layout", id="layout"):
                        yield LayoutPanel(id="layout-panel")
                    with TabPane("2 Values", id="values"):
                        yield ValuesGrid(id="values-grid")
                    with TabPane("3 Matmul", id="matmul"):
                        yield MatmulPanel(id="matmul-panel")
                    with TabPane("4 Metadata", id="metadata"):
                        yield MetadataPanel(id="metadata-panel")
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Tab moves between the tree, the panel and the filter: the tab strip would take a Tab press
        # and show almost nothing (the panels are switched with 1-4, or the mouse).
        for tabs in self.query(Tabs):
            tabs.can_focus = False
        self.query_one(TensorTree).loading = True
        self.set_status(f"opening {self.path} …", lasting=True)
        self.query_one(MatmulPanel).show_settings(self.settings, None)
        # Only the file opens now; the backends are probed once the model is on screen (_tree_drawn):
        # loading them (numpy, libggml, librknnrt) alongside the file would only delay the tree.
        self._open(self.path)

    def on_unmount(self) -> None:
        if self.app.is_screen_installed("scan"):
            self.app.get_screen("scan").stop()  # else the app would wait for the scan to finish before exiting
        if self.app.is_screen_installed("offload"):
            self.app.get_screen("offload").shutdown()  # cancels a running evaluation; llama.cpp's model is freed
        gc.unfreeze()
        if self.model is not None:
            self.model.close()

    # -- the sidebar's width ----------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._fit_sidebar()

    def _fit_sidebar(self) -> tuple[int, int]:
        """Size the sidebar from the tree's widest line, the screen and the user's moves; (width, width unmoved)."""
        sidebar, tree = self.query_one("#sidebar"), self.query_one(TensorTree)
        # The columns around the tree's lines: the sidebar's border and the tree's scrollbar.
        chrome = sidebar.styles.gutter.width + tree.styles.gutter.width + tree.styles.scrollbar_size_vertical
        content, screen = tree.content_width + chrome, self.size.width
        width = sidebar_width(content, screen, self._sidebar_adjust)
        if sidebar.styles.width is None or sidebar.styles.width.value != width:
            sidebar.styles.width = width
        return width, sidebar_width(content, screen)

    def action_sidebar(self, step: int) -> None:
        """``<`` / ``>``: the tree RESIZE_STEP columns narrower (-1) or wider (+1), for the rest of the session."""
        before, _ = self._fit_sidebar()
        self._sidebar_adjust += step * RESIZE_STEP
        width, fitted = self._fit_sidebar()
        self._sidebar_adjust = width - fitted  # a move past a bound is dropped: one press always comes back
        if width == before:
            self.set_status(f"the tree is as {'wide' if step > 0 else 'narrow'} as it goes ({width} columns)")
        else:
            self.set_status(f"tree {width} columns wide, panel {self.size.width - width} · < narrower · > wider")

    # -- the status line ----------------------------------------------------------------
    def set_status(self, line: str, error: bool = False, lasting: bool = False) -> None:
        """The one-line status bar (errors in bold); it expires after a few seconds unless ``lasting``.

        The next status replaces it at once; an expired one gives way to the
        resting line, the file's summary. ``lasting`` is for lines that a
        running job's result will replace (``running …``).
        """
        # One fixed line: no re-layout of the screen is needed.
        self.query_one("#status", Static).update(Text(printable(line), style="bold red" if error else ""),
                                                 layout=False)
        if self._status_timer is not None:
            self._status_timer.stop()
            self._status_timer = None
        if not lasting:
            self._status_timer = self.set_timer(self.ERROR_SECONDS if error else self.STATUS_SECONDS,
                                                self.expire_status)

    def expire_status(self) -> None:
        """The status line's time is up: show the resting line."""
        self._status_timer = None
        self.query_one("#status", Static).update(self._resting, layout=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            if event.worker.group == "open":
                gc.enable()  # the start is over (see tui.run)
            self.set_status(in_field_words(failure_line(event.worker.error, event.worker.group)), error=True)

    # -- message handlers -----------------------------------------------------------
    def on_model_opened(self, message: msg.ModelOpened) -> None:
        self.model = message.model
        self.groups = message.groups
        self.order = [t.name for _, tensors in self.groups for t in tensors]
        self._layers = {}
        for t in self.model.tensors:
            if t.layer is not None:
                self._layers.setdefault(t.layer_group, set()).add(t.layer)
        tree = self.query_one(TensorTree)
        tree.loading = False
        tree.populate(self.groups, self.verdicts, self.settings.fingerprint)
        self._fit_sidebar()
        warn = f" · {len(self.model.warnings)} warning(s): {self.model.warnings[0]}" if self.model.warnings else ""
        summary = (f"{os.path.basename(self.path)}: {len(self.model.tensors)} tensors, "
                   f"{len(self.model.entries)} metadata keys{warn}")
        self._resting = Text(printable(summary))
        self.set_status(summary)
        # The model, its tensors and the widgets live as long as the app: moving them out of the
        # collector's generations keeps full collections (pauses of ~80 ms) away from key presses.
        gc.freeze()
        first = next((t.name for t in self.model.tensors if t.layer is not None and t.n_dims == 2), None)
        if first or self.order:
            # The tree (with the cursor on this tensor) is drawn first; the panel, whose first use imports the
            # layout and NPU modules, fills in once the tree's frame is out (_tree_drawn).
            self.select_tensor(first or self.order[0], paint=False)
        tree.focus()
        if self.start_marker is not None:
            self.start_marker.reached("tree")

    @on(TensorTree.Drawn)
    def _tree_drawn(self, event: TensorTree.Drawn) -> None:
        """The opened model's tree is on screen: fill the current tensor's panel, then the hidden Metadata panel."""
        self._paint_current()
        # A float's preview needs numpy (float32 shortest text): kept off the tree's frame.
        self.call_after_refresh(self._fill_metadata)
        if self.start_marker is not None:
            self.start_marker.reached("panel")
            self.start_marker = None
        gc.enable()  # the start is over: tui.run paused the collector for it
        # Then the backends (the Matmul panel names the NPU side and why).
        self.call_after_refresh(self._probe)

    def _fill_metadata(self) -> None:
        if self.model is not None:
            self.query_one(MetadataPanel).populate(self.model.entries)

    def on_open_failed(self, message: msg.OpenFailed) -> None:
        from layoutscope.tui.screens.error import ErrorScreen

        gc.enable()  # the start is over (see tui.run)
        self.app.push_screen(ErrorScreen(self.path, message.line))

    def on_backends_probed(self, message: msg.BackendsProbed) -> None:
        self.availability = message.availability
        self.npu_side = npu_side(self.settings.backend, self.availability)
        self.query_one(MatmulPanel).show_settings(self.settings, self.npu_side)

    def on_prefetched(self, message: msg.Prefetched) -> None:
        self.query_one(LayoutPanel).remember(message.tensor, message.row, message.col, message.explanation)
        if message.window is not None and message.values_key == (message.tensor.name, self.settings.weight_quant,
                                                                  self.settings.mm):
            self._sbs_for(message.tensor).insert(message.window)

    def on_amax_ready(self, message: msg.AmaxReady) -> None:
        self._amax[message.tensor] = message.amax
        if message.tensor == self.current:
            self._show_panel("values")

    def on_matmul_stage(self, message: msg.MatmulStage) -> None:
        self.query_one(MatmulPanel).set_running(True, f"{message.tensor}: {message.name}", message.index)

    def on_matmul_finished(self, message: msg.MatmulFinished) -> None:
        c, made_with = message.comparison, message.settings
        self.comparisons[message.tensor] = (c, message.notices)
        self.made_with[("matmul", message.tensor)] = made_with
        m = c.metrics
        self.verdicts.record(message.tensor, m.nmse, summary=f"{c.backend} vs {c.reference}",
                             bands=c.bands, mismatched=m.mismatched, settings=made_with.fingerprint)
        if self.model is not None:
            self.query_one(TensorTree).refresh_verdict(self.model.tensor(message.tensor))
        self.query_one(MatmulPanel).set_running(False)
        if message.tensor == self.current:
            self._show_panel("matmul")
            self._update_title()
        stale = self.staleness(made_with)
        self.set_status(f"{message.tensor}: {m.verdict.upper()} · NMSE {m.nmse:.3e} · SNR {m.snr_db:.1f} dB "
                        f"({c.backend} vs {c.reference})" + (f" · stale: {stale}" if stale else ""))

    def on_matmul_failed(self, message: msg.MatmulFailed) -> None:
        line = in_field_words(message.line)
        panel = self.query_one(MatmulPanel)
        panel.set_running(False)
        panel.show_stage_line(line, error=not message.cancelled)
        self.set_status(line, error=not message.cancelled)

    def on_diagnose_progress(self, message: msg.DiagnoseProgress) -> None:
        self.query_one(MatmulPanel).set_running(True, f"diagnose {message.tensor}: {message.hypothesis}",
                                                message.done, message.total)

    def on_diagnose_finished(self, message: msg.DiagnoseFinished) -> None:
        d = message.diagnosis
        self.diagnoses[message.tensor] = (d, message.observed_path, message.input_path)
        self.made_with[("diagnose", message.tensor)] = message.settings
        panel = self.query_one(MatmulPanel)
        panel.set_running(False)
        if message.tensor == self.current:
            self._show_panel("matmul")
            panel.scroll_home(animate=False)
        self.set_status(f"{message.tensor}: {d.summary()}")

    def on_diagnose_failed(self, message: msg.DiagnoseFailed) -> None:
        line = in_field_words(message.line)
        panel = self.query_one(MatmulPanel)
        panel.set_running(False)
        panel.show_stage_line(line, error=not message.cancelled)
        self.set_status(line, error=not message.cancelled)

    def on_export_progress(self, message: msg.ExportProgress) -> None:
        self.set_status(f"exporting: {message.done} of {message.total} rows · esc cancels", lasting=True)

    def on_export_finished(self, message: msg.ExportFinished) -> None:
        self.set_status(message.line, error=not message.ok)
        self.notify(printable(message.line), severity="information" if message.ok else "error", markup=False)

    def on_array_indexed(self, message: msg.ArrayIndexed) -> None:
        self._indexed.add(message.key)
        panel = self.query_one(MetadataPanel)
        if panel.key == message.key:
            panel.query_one("#metadata-value").mark_indexed()

    def on_search_found(self, message: msg.SearchFound) -> None:
        self.query_one(MetadataPanel).found(message.key, message.query, message.hits)

    @on(MetadataPanel.KeyChosen)
    def _key_chosen(self, event: MetadataPanel.KeyChosen) -> None:
        value = self.model.entries[event.key].value
        big = hasattr(value, "element_type") and value.element_type.name == "STRING" and len(value) > WALKABLE
        indexed = not big or event.key in self._indexed
        self.query_one(MetadataPanel).show_key(event.key, indexed)
        if not indexed:
            self._index_array(event.key, value)

    @on(MetadataPanel.SearchSubmitted)
    def _search_submitted(self, event: MetadataPanel.SearchSubmitted) -> None:
        self._search(event.key, self.model.entries[event.key].value, event.query)

    @on(Tree.NodeHighlighted, "#tree")
    def _tree_moved(self, event: Tree.NodeHighlighted) -> None:
        # Only the cursor's own moves select: a highlight left over from a filter's rebuild of the tree
        # names a node that is gone or no longer under the cursor.
        if event.node.data and self.query_one(TensorTree).owns_cursor(event.node):
            self.select_tensor(event.node.data)

    # -- the tree filter ------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # Applied when typing pauses: one rebuild of the tree per pause, not per key, and the selection
        # stays where it is until enter.
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(self.FILTER_DELAY, self.guard(self.apply_filter))

    def apply_filter(self) -> bool:
        """Filter the tree by the filter box's regular expression now; False, with the reason shown, when it cannot."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        text = self.query_one("#filter", Input).value
        if text == self._filter_text:
            return bool(self.query_one(TensorTree).visible_names())
        tree = self.query_one(TensorTree)
        try:
            name_filter = compile_filter(text if text.strip() else None, option="filter")
            shown = tree.set_filter(name_filter, keep=self.current)
        except UsageError as exc:  # an invalid or catastrophic pattern: the tree stays as it was
            self.set_status(str(exc), error=True)
            return False
        self._filter_text = text
        if name_filter is None:
            self.set_status(f"filter cleared: all {len(self.order)} tensors are shown")
        elif not shown:
            self.set_status(f"filter {quoted(text)}: no tensor matches · esc clears it", error=True)
            return False
        else:
            self.set_status(f"filter {quoted(text)}: {len(shown)} of {len(self.order)} tensors · "
                            "enter goes to them · esc clears")
        return True

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not self.apply_filter():
            return  # stay in the box: the status line says why
        tree = self.query_one(TensorTree)
        names = tree.visible_names()
        if self.current in names:
            tree.show(self.current)
        elif names:
            self.select_tensor(names[0])
        tree.focus()

    @on(FilterInput.Cleared)
    def _filter_cleared(self, event: FilterInput.Cleared) -> None:
        self.apply_filter()
        tree = self.query_one(TensorTree)
        if self.current:
            tree.show(self.current)
        tree.focus()

    def _clear_filter(self) -> None:
        """Show every tensor again (a jump to a tensor the filter hides)."""
        box = self.query_one("#filter", Input)
        with self.prevent(Input.Changed):
            box.value = ""
        self._filter_text = ""
        self.query_one(TensorTree).set_filter(None, keep=self.current)

    @on(ValuesGrid.CursorMoved)
    def _cursor_moved(self, event: ValuesGrid.CursorMoved) -> None:
        self.cursor = (event.row, event.col)
        self._stale.add("layout")
        self._update_title()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.id
        if pane in self._stale:
            self._show_panel(pane)
        if pane == "values":
            self.query_one(ValuesGrid).focus()

    # -- results and the settings that made them -----------------------------------------
    def staleness(self, made_with: Optional[RunSettings]) -> Optional[str]:
        """None when a result made with ``made_with`` matches the current settings, else what differs."""
        if made_with is None or made_with.fingerprint == self.settings.fingerprint:
            return None
        return "made with " + "; ".join(made_with.differences(self.settings))

    def _result_staleness(self, kind: str, name: str) -> Optional[str]:
        return self.staleness(self.made_with.get((kind, name)))

    # -- selection and rendering ------------------------------------------------------
    def select_tensor(self, name: str, paint: bool = True) -> None:
        """Make ``name`` the current tensor; the cursor (row, col) is kept where the shape allows.

        With ``paint`` False only the tree and the title follow; :meth:`_paint_current` fills the panel later.
        """
        if self.model is None or name not in self.model:
            return
        tree = self.query_one(TensorTree)
        if tree.current() != name and not tree.show(name):
            tree.unselect()  # hidden by the filter: no other tensor may look selected
        if name == self.current:
            return
        t = self.model.tensor(name)
        row, col = self.cursor
        if t.sizes.has_layout and no_data_reason(t) is None:
            self.cursor = (min(row, t.n_rows - 1), min(col, t.ne[0] - 1))
        else:
            self.cursor = (0, 0)
        self.current = name
        self._stale = set(PANELS) - {"metadata"}
        self._update_title()
        if paint:
            self._paint_current()

    def _paint_current(self) -> None:
        """Fill the active panel for the current tensor, and prefetch its neighbouring layers."""
        if self.model is None or self.current is None:
            return
        t = self.model.tensor(self.current)
        self._show_panel(self.query_one(TabbedContent).active)
        neighbours = [self.model.tensor(n) for n in (self._neighbour(t, 1), self._neighbour(t, -1)) if n]
        neighbours = [n for n in neighbours if no_data_reason(n) is None]
        if neighbours:
            # ] and [ then find the next layer's bytes decoded and in the page cache. It starts after
            # this frame is painted, so that it does not compete with it for the GIL.
            self.call_after_refresh(self._prefetch, neighbours, *self.cursor, self.settings.weight_quant,
                                    self.settings.mm)

    def _update_title(self) -> None:
        if self.model is None or self.current is None:
            return
        t = self.model.tensor(self.current)
        entry = self.verdicts.get(t.name)
        verdict = ""
        if entry is not None:
            stale = "" if entry.is_current(self.settings.fingerprint) else "stale "
            verdict = f" · {stale}{entry.verdict.upper()} {entry.nmse:.1e} ·"
        row, col = self.cursor
        # The verdict right after the name: at 80 columns the title is cut at about 48 characters.
        self.query_one("#title", Static).update(Text.assemble(
            (printable(t.name), "bold"), verdict, f" {t.type_name} {shape_text(t.ne)} @ {row},{col}"), layout=False)

    def _show_panel(self, panel: str) -> None:
        if self.model is None or self.current is None or panel not in PANELS:
            return
        self._stale.discard(panel)
        t = self.model.tensor(self.current)
        row, col = self.cursor
        if panel == "layout":
            self.query_one(LayoutPanel).show(t, row, col, self.settings)
        elif panel == "values":
            sbs, message = self._side_by_side(t)
            self.query_one(ValuesGrid).show(sbs, row, col, self.settings.threshold, message)
        elif panel == "matmul":
            mp = self.query_one(MatmulPanel)
            mp.show_settings(self.settings, self.npu_side)
            comparison, notices = self.comparisons.get(t.name, (None, []))
            mp.show_result(comparison, notices, t.name, stale=self._result_staleness("matmul", t.name),
                           empty=no_data_reason(t))
            diagnosis, observed, x_path = self.diagnoses.get(t.name, (None, "", ""))
            mp.show_diagnosis(diagnosis, observed, x_path, stale=self._result_staleness("diagnose", t.name))

    def _sbs_for(self, tensor):
        """The cached SideBySide of ``tensor`` under the current settings (made if missing)."""
        from layoutscope.layout.sidebyside import SideBySide

        key = (tensor.name, self.settings.weight_quant, self.settings.mm)
        sbs = self._sbs.get(key)
        if sbs is None:
            sbs = SideBySide(tensor, self.settings.weight_quant, self.settings.mm)
            self._sbs[key] = sbs
            if len(self._sbs) > SIDE_BY_SIDE_KEPT:
                self._sbs.popitem(last=False)
        self._sbs.move_to_end(key)
        return sbs

    def _side_by_side(self, tensor):
        sbs = self._sbs_for(tensor)
        empty = no_data_reason(tensor)
        if empty:
            return sbs, f"values are not available: {empty}"
        if not sbs.available:
            return sbs, f"values are not available: {sbs.reason} (the Layout panel shows the raw bytes)"
        if sbs.needs_amax:
            if tensor.name in self._amax:
                sbs.amax = self._amax[tensor.name]
            else:
                self._compute_amax(tensor)
                return sbs, "computing the per-tensor scale (the largest |w| of the whole tensor) …"
        return sbs, None

    # -- actions ----------------------------------------------------------------------
    def action_layer(self, step: int) -> None:
        """Go to the same role in the next (+1) or previous (-1) layer: blk.3.ffn_down → blk.4.ffn_down."""
        if self.model is None or self.current is None:
            return
        t = self.model.tensor(self.current)
        if t.layer is None:
            self.set_status(f"{t.name} is not in a layer; ] and [ step between layers")
            return
        name = self._neighbour(t, step)
        if name is None:
            later, edge = ("later", "last") if step > 0 else ("earlier", "first")
            self.set_status(f"{t.name}: no {later} layer has {t.role} (this is the {edge})")
            return
        self.select_tensor(name)

    def _neighbour(self, t, step: int) -> Optional[str]:
        """The tensor with ``t``'s role in the nearest layer after (+1) or before (-1) it."""
        if t.layer is None:
            return None
        prefix = f"{t.layer_group}." if t.layer_group else ""
        layers = self._layers.get(t.layer_group, ())
        for layer in sorted((n for n in layers if (n - t.layer) * step > 0), key=lambda n: abs(n - t.layer)):
            name = f"{prefix}blk.{layer}.{t.role}"
            if name in self.model:
                return name
        return None

    def action_bad(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) tensor whose comparison under the current settings is worse than the threshold."""
        order = self.query_one(TensorTree).visible_names() or self.order
        threshold = self.settings.threshold
        fingerprint = self.settings.fingerprint
        name = self.verdicts.next_worse(order, self.current, threshold, step, fingerprint=fingerprint)
        if name is None:
            stale = len(self.verdicts.stale(fingerprint))
            current = len(self.verdicts) - stale
            ignored = (f"; {stale} result(s) made with other settings are stale and ignored: m or a scan reruns them"
                       if stale else "; m runs one")
            self.set_status(f"no tensor's comparison under the current settings is worse than NMSE {threshold:g} "
                            f"({current} compared{ignored})")
            return
        self.select_tensor(name)
        entry = self.verdicts.get(name)
        self.set_status(f"{name}: last verdict {entry.verdict.upper()}, NMSE {entry.nmse:.3e} > {threshold:g}")

    def _current_weight(self, what: str):
        """The current tensor when it is a 2-D weight with data (and the Matmul panel is shown), else None with why."""
        if self.model is None or self.current is None:
            return None
        t = self.model.tensor(self.current)
        if t.n_dims != 2:
            self.set_status(f"{t.name} is not a 2-D weight (ne = {list(t.ne)}): there is no matmul to {what}",
                            error=True)
            return None
        self.query_one(TabbedContent).active = "matmul"
        empty = no_data_reason(t)
        if empty:
            self.set_status(f"nothing to {what}: {empty}", error=True)
            return None
        return t

    def action_matmul(self) -> None:
        """Run the current tensor's matmul on the NPU side and on the CPU, in a worker."""
        t = self._current_weight("run")
        if t is None:
            return
        panel = self.query_one(MatmulPanel)
        panel.set_running(True, f"{t.name}: starting", 0)
        self.set_status(f"running the matmul of {t.name} · esc cancels", lasting=True)
        self._matmul(self.model, t.name, self.settings, self.npu_side)

    def action_cancel(self) -> None:
        """Cancel a running matmul, diagnosis or export."""
        running = [w for w in self.workers if w.group in ("matmul", "diagnose", "export") and w.is_running]
        for w in running:
            w.cancel()
        if running:
            self.set_status("cancelling …", lasting=True)

    def action_export_current(self) -> None:
        """``x``: export (see :meth:`action_export`), but never a comparison made under other settings."""
        name = self.current
        if (name is not None and name in self.comparisons
                and self.query_one(TabbedContent).active != "values"):
            stale = self._result_staleness("matmul", name)
            if stale:
                self.set_status(f"not exporting the comparison of {name}: it is stale ({stale}); "
                                "press m to rerun it with the current settings, then x", error=True)
                return
        self.action_export()

    def action_export(self) -> None:
        """Export: the comparison (same columns as compare --csv), or from Values the weight side by side."""
        if self.model is None or self.current is None:
            return
        name = self.current
        if self.query_one(TabbedContent).active == "values":
            sbs, problem = self._side_by_side(self.model.tensor(name))
            if problem:
                self.set_status(f"cannot export values: {problem}", error=True)
                return
            default = f"{name}.values.csv"
            what = f"export {name} side by side (row, col, dequantized, npu_code, npu_value, abs_err) to:"
            from layoutscope.layout.sidebyside import SideBySide

            fresh = SideBySide(sbs.tensor, sbs.scheme, self.settings.mm, amax=sbs.amax)

            def done(path):
                if path:
                    self._export(path.strip(), self.model.paths, sbs=fresh)
        else:
            if name not in self.comparisons:
                self.set_status(f"no comparison for {name} yet: press m to run one, then x", error=True)
                return
            comparison = self.comparisons[name][0]
            default = f"{name}.compare.csv"
            what = f"export the comparison of {name} (the columns of compare --csv) to:"

            def done(path):
                if path:
                    self._export(path.strip(), self.model.paths, comparison=comparison)
        self.app.push_screen(PromptScreen(what, default, "enter writes (atomically) · esc cancels"), done)

    def action_settings(self) -> None:
        """Open the settings dialog."""
        from layoutscope.tui.screens.settings import SettingsScreen

        def chosen(settings):
            if settings is not None:
                self.apply_settings(settings)

        self.app.push_screen(SettingsScreen(self.settings, self.availability, self.model), self.guard(chosen))

    def apply_settings(self, settings: RunSettings) -> None:
        """Use new settings from now on (matmuls, scans, diagnoses), mark older results stale and redraw."""
        changes = self.settings.differences(settings)
        self.settings = settings
        if self.availability is not None:
            self.npu_side = npu_side(settings.backend, self.availability)
        self.query_one(TensorTree).set_fingerprint(settings.fingerprint)
        self._stale = set(PANELS) - {"metadata"}
        self._update_title()
        self._show_panel(self.query_one(TabbedContent).active)
        if not changes:
            self.set_status("settings unchanged")
            return
        stale = len(self.verdicts.stale(settings.fingerprint))
        marked = (f" · {stale} result(s) made with other settings are marked stale (?): m or a scan reruns them"
                  if stale else "")
        self.set_status(f"settings saved: {'; '.join(changes)}{marked}")

    def action_scan(self) -> None:
        """Open the Scan screen (kept once made, so a running scan and its results survive leaving it)."""
        from layoutscope.tui.screens.scan import ScanScreen

        self._open_kept("scan", ScanScreen, "the scan needs the model")

    def action_offload(self) -> None:
        """Open the Offload screen (kept once made: its session, sweeps and assignment survive leaving it)."""
        from layoutscope.tui.screens.offload import OffloadScreen

        self._open_kept("offload", OffloadScreen, "the Offload screen needs the model")

    def _open_kept(self, name: str, screen_class, needs: str) -> None:
        """Push the screen installed as ``name``, made (``screen_class(self)``) and installed on first use."""
        if self.model is None:
            self.set_status(f"still opening {self.path}: {needs}", error=True)
            return
        if not self.app.is_screen_installed(name):
            self.app.install_screen(screen_class(self), name)
        self.app.push_screen(name)

    def show_plan(self, tags: dict) -> None:
        """Tag each matmul weight in the tree with its pipeline (``{name: "W8S"}``, ``CPU`` for the rest)."""
        self.query_one(TensorTree).set_plan(tags)
        self._fit_sidebar()

    def record_scan_row(self, row, bands: tuple, settings: RunSettings) -> None:
        """Record a scan's row in the VerdictStore (source ``scan``, made with ``settings``) and recolour its tree label."""
        self.verdicts.record(row.tensor, row.nmse, source="scan", bands=bands,
                             summary=f"scan: weight NMSE {row.weight_nmse:.2e}", mismatched=row.mismatched,
                             settings=settings.fingerprint)
        if self.model is not None and row.tensor in self.model:
            self.query_one(TensorTree).refresh_verdict(self.model.tensor(row.tensor))
        if row.tensor == self.current:
            self._update_title()

    def jump_to(self, name: str) -> None:
        """Select ``name`` in the tree (clearing a filter that hides it) and show it."""
        if self.model is None or name not in self.model:
            return
        tree = self.query_one(TensorTree)
        if name not in tree.visible_names():
            self._clear_filter()
        self.select_tensor(name)
        tree.focus()
        entry = self.verdicts.get(name)
        if entry is not None:
            stale = "" if entry.is_current(self.settings.fingerprint) else " (stale: made with other settings)"
            self.set_status(f"{name}: {entry.source} verdict {entry.verdict.upper()}, NMSE {entry.nmse:.3e}{stale}")

    def action_diagnose(self) -> None:
        """Ask for an observed Y (.npy), and X unless the input setting is a .npy; rank the known bugs."""
        t = self._current_weight("diagnose")
        if t is None:
            return
        name, settings = t.name, self.settings
        x_from_settings = settings.input.strip().endswith(".npy")

        def start(observed: str, x_path: str) -> None:
            self._observed_path, self._input_path = observed, x_path
            self.query_one(MatmulPanel).set_running(True, f"diagnose {name}: loading", 0, 1)
            self.set_status(f"diagnosing {name} · esc cancels", lasting=True)
            self._diagnose(self.model, name, observed, x_path, settings)

        def got_input(answer) -> None:
            if answer and answer.strip():
                start(self._observed_path, answer.strip())

        def got_observed(answer) -> None:
            if not (answer and answer.strip()):
                return
            self._observed_path = answer.strip()
            if x_from_settings:
                start(self._observed_path, settings.input.strip())
                return
            self.app.push_screen(PromptScreen(
                f"the input X that {name} was given (.npy, float32 (M, {t.ne[0]})):", self._input_path,
                "enter runs the diagnosis · esc cancels · an input setting PATH.npy (s) skips this question"),
                self.guard(got_input))

        x_hint = f"X is the input setting, {settings.input}" if x_from_settings else "X is asked next"
        self.app.push_screen(PromptScreen(
            f"diagnose {name}: the output Y your backend produced (.npy, (M, {t.n_rows})):", self._observed_path,
            f"enter continues · esc cancels · {x_hint}"), self.guard(got_observed))

    def action_goto(self) -> None:
        """Ask for a (row, col) and move the cursor there."""
        if self.model is None or self.current is None:
            return
        t = self.model.tensor(self.current)
        empty = no_data_reason(t)
        if empty:
            self.set_status(f"nowhere to go: {empty}", error=True)
            return

        def go(answer):
            if not answer:
                return
            try:
                row, col = (int(p) for p in answer.replace(" ", "").split(","))
            except ValueError:
                self.set_status(f"go to {quoted(answer)}: use ROW,COL, e.g. 3,100", error=True)
                return
            if not (0 <= row < t.n_rows and 0 <= col < t.ne[0]):
                self.set_status(f"({row}, {col}) is outside {t.name} (rows 0..{t.n_rows - 1}, cols 0..{t.ne[0] - 1})",
                                error=True)
                return
            self.cursor = (row, col)
            self._stale = set(PANELS) - {"metadata"}
            self._update_title()
            self._show_panel(self.query_one(TabbedContent).active)

        row, col = self.cursor
        self.app.push_screen(PromptScreen(f"go to row,col in {t.name}:", f"{row},{col}"), self.guard(go))

    def action_help(self) -> None:
        """Show the key table."""
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        """Leave the app."""
        self.app.exit()

    def action_filter(self) -> None:
        """Focus the tree filter."""
        self.query_one("#filter", Input).focus()

    def action_tab(self, pane: str) -> None:
        """Switch to a panel."""
        self.query_one(TabbedContent).active = pane
