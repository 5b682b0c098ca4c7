"""The main screen's thread workers: they compute and post a message, and never touch a widget.

Kept apart from ``main`` so the screen's state and handlers read on their own
(the harlequin split): each worker here pairs with an ``on_...`` handler there.
"""

from __future__ import annotations

import os

from textual import work
from textual.worker import get_current_worker

from layoutscope.errors import classify
from layoutscope.measure.session import MatmulCancelled
from layoutscope.measure.settings import RunSettings
from layoutscope.tui import messages as msg
from layoutscope.tui.survival import error_text
from layoutscope.tui.widgets.metadata_panel import search_array

#: Seconds between export progress messages.
PROGRESS_EVERY = 0.2


class MainWorkers:
    """Mixin of :class:`~.main.MainScreen`'s workers (needs ``post_message``)."""

    def real_input_plan(self, model, settings: RunSettings, name: str, cancelled):
        """The input plan of the matmul panel: one capture of every matmul weight per model, input and rows.

        The first matmul with a real input runs the model over the bundled
        text once; every later weight reuses its rows. None for a synthetic input.
        """
        from layoutscope.inference.real_input import plan_inputs, wants_real

        if not wants_real(settings.input):
            return None
        cache = self.__dict__.setdefault("_real_plans", {})
        key = (str(model.path), settings.input, settings.rows)
        if key not in cache:
            from layoutscope.analyses.scan import scan_targets

            def checkpoint() -> None:
                if cancelled():
                    raise MatmulCancelled(f"{name} cancelled while capturing the real input")

            names = [t.name for t in scan_targets(model)[0]]
            cache[key] = plan_inputs(settings.input, model, names, settings.rows, checkpoint=checkpoint)
        return cache[key]

    @work(thread=True, exclusive=True, exit_on_error=False, group="open")
    def _open(self, path: str) -> None:
        from layoutscope.report.summary import layer_groups
        from layoutscope.gguf import Model

        try:
            model = Model(path)
            groups = layer_groups(model)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the error screen
            self.post_message(msg.OpenFailed(classify(exc)[1]))
            return
        self.post_message(msg.ModelOpened(model, groups))

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def _probe(self) -> None:
        from layoutscope.backend import available_backends

        self.post_message(msg.BackendsProbed(available_backends()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="amax")
    def _compute_amax(self, tensor) -> None:
        from layoutscope.layout.sidebyside import ExportCancelled, tensor_amax

        worker = get_current_worker()
        try:
            amax = tensor_amax(tensor, cancelled=lambda: worker.is_cancelled)
        except ExportCancelled:
            return  # another tensor was selected meanwhile: nobody waits for this one
        self.post_message(msg.AmaxReady(tensor.name, amax))

    @work(thread=True, exclusive=True, exit_on_error=False, group="matmul")
    def _matmul(self, model, name: str, settings: RunSettings, side) -> None:
        from layoutscope.backend import available_backends, npu_side
        from layoutscope.measure.session import run_matmul

        worker = get_current_worker()
        try:
            side = side or npu_side(settings.backend, available_backends())
            real = self.real_input_plan(model, settings, f"the matmul of {name}", lambda: worker.is_cancelled)
            comparison, notices = run_matmul(
                model, name, settings, side,
                stage=lambda i, s: self.post_message(msg.MatmulStage(name, i, s)),
                cancelled=lambda: worker.is_cancelled, real=real,
            )
        except MatmulCancelled as exc:
            self.post_message(msg.MatmulFailed(name, str(exc), cancelled=True))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the panel, the app keeps running
            self.post_message(msg.MatmulFailed(name, error_text(exc)))
            return
        if worker.is_cancelled:
            self.post_message(msg.MatmulFailed(name, f"matmul of {name} cancelled", cancelled=True))
        else:
            self.post_message(msg.MatmulFinished(name, comparison, notices, settings))

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnose")
    def _diagnose(self, model, name: str, observed_path: str, input_path: str, settings: RunSettings) -> None:
        from layoutscope.analyses.diagnose import diagnose
        from layoutscope.measure.inputs import load_npy, load_observed

        worker = get_current_worker()

        def progress(done: int, total: int, hypothesis: str) -> None:
            if worker.is_cancelled:
                raise MatmulCancelled(f"diagnosis of {name} cancelled")
            self.post_message(msg.DiagnoseProgress(name, done, total, hypothesis))

        try:
            weight = model.tensor(name)
            x, _ = load_npy(input_path, weight.ne[0], label="input")
            observed = load_observed(observed_path, x.shape[0], weight.n_rows, name, label="observed Y")
            result = diagnose(weight, x, observed, **settings.npu_options(), progress=progress)
        except MatmulCancelled as exc:
            self.post_message(msg.DiagnoseFailed(name, str(exc), cancelled=True))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a missing or mis-shaped .npy: shown, the app keeps running
            self.post_message(msg.DiagnoseFailed(name, f"diagnose: {error_text(exc)}"))
            return
        self.post_message(msg.DiagnoseFinished(name, result, observed_path, input_path, settings))

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export(self, path: str, models=(), comparison=None, sbs=None) -> None:
        import time

        from layoutscope.report.destinations import prepare
        from layoutscope.report.csv_tables import write_comparison_csv
        from layoutscope.layout.sidebyside import ExportCancelled
        from layoutscope.report.csv_tables import write_side_by_side_csv

        worker = get_current_worker()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or done == total:
                last[0] = now
                self.post_message(msg.ExportProgress(done, total))

        try:
            # Refused before a row is computed: the input model, a directory, an unwritable place, stdout.
            destination = prepare({"export path": path}, models=models, allow_stdout=False)["export path"]
        except Exception as exc:  # noqa: BLE001 - a refused path is a status line; the app keeps running
            self.post_message(msg.ExportFinished(False, classify(exc)[1]))
            return
        try:
            if comparison is not None:
                rows = write_comparison_csv(destination, comparison)
            else:
                rows = write_side_by_side_csv(destination, sbs, progress, lambda: worker.is_cancelled)
        except ExportCancelled as exc:
            self.post_message(msg.ExportFinished(False, str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. an unwritable path: say so and keep running
            self.post_message(msg.ExportFinished(False, f"export failed: {classify(exc)[1]}"))
            return
        full = os.path.abspath(path)
        self.post_message(msg.ExportFinished(True, f"wrote {rows} rows to {full}", full))

    @work(thread=True, exclusive=True, exit_on_error=False, group="prefetch")
    def _prefetch(self, tensors: list, row: int, col: int, weight_quant: str, mm: str) -> None:
        from layoutscope.layout.blocks import explain
        from layoutscope.layout.sidebyside import SideBySide

        worker = get_current_worker()
        for t in tensors:
            if worker.is_cancelled or t.type.block_size <= 0 or t.n_elements == 0:
                continue
            r, c = min(row, t.n_rows - 1), min(col, t.ne[0] - 1)
            try:
                explanation = explain(t, r, c)
                sbs = SideBySide(t, weight_quant, mm)
                window = sbs.window(r) if sbs.available and not sbs.needs_amax else None
            except Exception:  # noqa: BLE001 - the panel will compute (and report) it when shown
                continue
            self.post_message(msg.Prefetched(t, r, c, explanation, window, (t.name, weight_quant, mm)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="index")
    def _index_array(self, key: str, array) -> None:
        if len(array):
            array[len(array) - 1]  # builds the array's offset index once, off the UI thread
        self.post_message(msg.ArrayIndexed(key))

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, key: str, array, query: str) -> None:
        worker = get_current_worker()
        hits = search_array(array, query, cancelled=lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(msg.SearchFound(key, query, hits))
