"""The Offload screen's thread workers and the one llama.cpp session they share.

Every job (the sweeps, the sensitivity, the planner, an evaluation of the
user's assignment) runs in one thread worker over one
:class:`~layoutscope.planning.session.OffloadSession`, opened by the first
job and kept for the screen's life, so the model is loaded, tokenized and
requantized once. Jobs never overlap (the session's llama.cpp context is not
shared between threads): the screen refuses a new one while one runs. Each
job computes and posts messages from ``..messages``; the screen's handlers
change the widgets. Inference and planning are imported here, inside the
workers, so opening the app never loads llama.cpp.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Callable, Optional

from textual import work

from layoutscope.errors import classify
from layoutscope.tui import messages as msg
from layoutscope.tui.survival import error_text

#: The pipeline of the first-k sweep when the settings' pipeline is ``classic`` (not a community pipeline).
DEFAULT_PIPELINE = "W8A8_STANDARD"


def first_k_pipeline(settings) -> str:
    """The pipeline the first-k sweep puts the leading layers on: the settings', else W8A8_STANDARD."""
    return DEFAULT_PIPELINE if settings.pipeline == "classic" else settings.pipeline


# -- the jobs: each takes the open session and a progress callback, and returns what the screen shows ---------
def open_job(session, progress) -> dict:
    """What the screen needs before any measurement: engine facts, llama.cpp's weights, the layers."""
    from layoutscope.planning.units import make_units, offloadable, weight_facts

    facts = weight_facts(session.model, session.weights)
    chosen, kept = offloadable(facts)
    return {"facts": session.facts, "weights": list(session.weights), "units": make_units(chosen, "layer"),
            "kept": kept, "text": session.text_label, "chunks": len(session.chunks),
            "tokens": sum(len(c.tokens) for c in session.chunks)}


def first_k_job(session, progress, pipeline: str) -> list[dict]:
    """k = 0..n_layer leading layers on ``pipeline``: one row per k."""
    from layoutscope.inference.evaluate import sweep_first_k
    from layoutscope.report.offload_tables import first_k_rows

    side = session.side(pipeline)
    candidates = [dataclasses.replace(c, side=side) for c in sweep_first_k(session.weights, session.facts.n_layer)]
    run = session.evaluate(candidates, progress)
    return first_k_rows(run.results, pipeline)


def pipelines_job(session, progress) -> list[dict]:
    """Each community pipeline on every offloadable weight: one row per pipeline (the published table's)."""
    from layoutscope.planning.pipeline_sweep import pipeline_sweep, sweep_rows

    sweep = pipeline_sweep(session.model, session.weights, session.side)
    run = session.evaluate(list(sweep.candidates), progress)
    return sweep_rows(run.results)


def sensitivity_job(session, progress, units: list, budget: float) -> list:
    """Each layer alone on each pipeline (cheapest first): the end-to-end KL divergence it causes."""
    from layoutscope.planning.costs import CHEAPEST_FIRST
    from layoutscope.planning.sensitivity import measure

    return measure(session, units, CHEAPEST_FIRST, budget, exhaustive=True, progress=progress)


def plan_job(session, progress, budget: float):
    """The planner's verified plan within ``budget`` (a PlanResult)."""
    from layoutscope.planning.planner import PlanOptions, make_plan

    return make_plan(session, PlanOptions(budget=budget), progress)


def assignment_job(session, progress, assignment: dict) -> tuple:
    """``(assignment, Quality)``: the user's assignment (weight → pipeline) evaluated end to end."""
    run = session.evaluate([session.candidate("assignment", assignment)], progress)
    return dict(assignment), run.results[0].quality


class OffloadWorkers:
    """Mixin of :class:`~.offload.OffloadScreen`'s workers (needs ``post_message`` and ``main``)."""

    #: Chunks of the bundled text each evaluation runs (1: seconds on the tiny sample, the screen's default).
    CHUNKS: Optional[int] = 1

    def init_workers(self) -> None:
        """The session's state; call from ``__init__``."""
        self._session = None
        self._session_fingerprint = None
        self._lock = threading.Lock()
        self._busy = False
        self._closing = False
        self._cancel = threading.Event()

    @property
    def busy(self) -> bool:
        """True from a job's start until its worker has let the session go."""
        return self._busy

    @property
    def session_fingerprint(self):
        """The fingerprint of the settings the open session was made with."""
        return self._session_fingerprint

    @property
    def session(self):
        """The open session (None before the first job, or after :meth:`shutdown`)."""
        return self._session

    def start_job(self, job: str, compute: Callable, *args) -> bool:
        """Run ``compute(session, progress, *args)`` in a worker; False (nothing started) while a job runs."""
        with self._lock:
            if self._busy or self._closing:
                return False
            self._busy = True
        self._cancel.clear()
        self._job(job, compute, self.main.settings, args)
        return True

    def cancel_job(self) -> bool:
        """Stop the running job (its evaluation ends within a decode); False when none runs."""
        with self._lock:
            if not self._busy:
                return False
            self._cancel.set()
            if self._session is not None:
                self._session.cancel()
        return True

    def shutdown(self) -> None:
        """Close the session now, or (a job running) cancel it and let its worker close the session."""
        with self._lock:
            self._closing = True
            if self._busy:
                self._cancel.set()
                if self._session is not None:
                    self._session.cancel()
                return
            self._close_session()

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _session_for(self, settings):
        """The open session, opened (or reopened under changed settings) in the worker's thread."""
        from layoutscope.inference.evaluate import EvalRequest
        from layoutscope.planning.session import OffloadSession

        if self._session is not None and self._session_fingerprint != settings.fingerprint:
            with self._lock:
                self._close_session()
        if self._session is None:
            session = OffloadSession(self.main.model, EvalRequest(chunks=self.CHUNKS), settings.backend, settings)
            session.__enter__()
            with self._lock:
                self._session, self._session_fingerprint = session, settings.fingerprint
        return self._session

    @work(thread=True, exclusive=True, exit_on_error=False, group="offload")
    def _job(self, job: str, compute: Callable, settings, args: tuple) -> None:
        from layoutscope.planning.session import Cancelled

        def progress(label: str, done: int, total: int) -> None:
            self.post_message(msg.OffloadProgress(job, label, done, total))

        try:
            session = self._session_for(settings)
            session.resume()  # a cancelled job left the session stopped
            if self._cancel.is_set():
                raise Cancelled("cancelled before it started")
            result = compute(session, progress, *args)
        except Cancelled:
            self.post_message(msg.OffloadFailed(job, f"{job} cancelled: the results shown are the earlier ones",
                                                cancelled=True))
        except Exception as exc:  # noqa: BLE001 - e.g. llama.cpp cannot load the model: one line, the app runs
            self.post_message(msg.OffloadFailed(job, f"{job} failed: {error_text(exc)}"))
        else:
            self.post_message(msg.OffloadFinished(job, result))
        finally:
            with self._lock:
                self._busy = False
                if self._closing:
                    self._close_session()

    @work(thread=True, exclusive=True, exit_on_error=False, group="offload-export")
    def _export(self, prefix: str, files: dict) -> None:
        """Write ``files`` (suffix → a function writing to a text stream) as ``prefix + suffix``, each atomically."""
        from layoutscope.report.destinations import prepare

        paths = {f"export ({suffix.lstrip('.')})": prefix + suffix for suffix in files}
        try:
            # Every path is refused or accepted before anything is written: the model, a directory, stdout.
            destinations = prepare(paths, models=self.main.model.paths, allow_stdout=False)
            for label, write in zip(paths, files.values()):
                with destinations[label].open() as stream:
                    write(stream)
        except Exception as exc:  # noqa: BLE001 - a refused or failed path is a status line
            self.post_message(msg.OffloadFailed("export", f"export failed: {classify(exc)[1]}"))
            return
        where = os.path.dirname(os.path.abspath(prefix + next(iter(files))))
        self.post_message(msg.OffloadFinished("export", (where, [os.path.basename(p) for p in paths.values()])))
