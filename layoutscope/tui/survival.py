"""Keeping the TUI alive: an exception in a handler, an action or a callback is shown, never fatal.

Textual ends the whole app when a message handler raises, and the widget
whose handler raised stops processing messages (so ``q`` may stop working
before that). A bad file or a bug in one panel must not cost the user the
session: :class:`Survives` catches what a screen's or widget's handlers raise,
:meth:`Survives.guard` wraps the callbacks of dialogs, and the app does the
same for actions (``LayoutscopeApp._dispatch_action``). Each failure is one
line, shown by :func:`report_failure`.
"""

from __future__ import annotations

import functools
from typing import Callable

from layoutscope.errors import classify
from layoutscope.errors import clipped, printable


def error_text(exc: BaseException) -> str:
    """``exc`` as the error policy words it (one line, clipped); the TUI has no ``--debug``, so no pointer to it."""
    line = classify(exc)[1].replace("(rerun with --debug for a traceback)", "(the app keeps running; q quits)")
    return printable(clipped(line, 300))


def failure_line(exc: BaseException, where: str) -> str:
    """One line for a bug: ``exc`` raised in ``where`` (a handler, an action, a worker that should not raise)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return printable(f"{where} failed: {type(exc).__name__}: {clipped(first, 160)} (the app keeps running; q quits)")


def report_failure(app, exc: BaseException, where: str) -> None:
    """Show a failure on the current screen (the app's own reporter when it has one)."""
    reporter = getattr(app, "report_failure", None)
    if reporter is not None:
        reporter(exc, where)
    else:  # pragma: no cover - only LayoutscopeApp runs these screens
        app.notify(failure_line(exc, where), severity="error", markup=False)


class Survives:
    """Mixin for screens and widgets (before the Textual base): a handler's exception is shown, not fatal."""

    async def _dispatch_message(self, message) -> None:
        try:
            await super()._dispatch_message(message)
        except Exception as exc:  # noqa: BLE001 - any bug in a handler: say so and keep the app running
            report_failure(self.app, exc, f"{type(self).__name__} ({message.handler_name})")

    def guard(self, callback: Callable) -> Callable:
        """``callback`` (a dialog's result callback, a timer's) with its exceptions shown instead of raised."""
        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - as in a handler
                report_failure(self.app, exc, getattr(callback, "__name__", "a callback").strip("_"))
        return guarded
