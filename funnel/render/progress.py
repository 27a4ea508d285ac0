"""Progress on the terminal (rich): what is being done, buckets done of all with the time
left, and the time so far, on stderr.

It appears only when a run takes longer than ``delay`` seconds, only on a terminal, and
never with ``--quiet``; it erases itself when the run ends, so output stays clean. Labels
are shown as text (no markup) with control characters escaped.

>>> import io
>>> with Progress("analysing", stream=io.StringIO()) as p:  # not a terminal: silent
...     p.stage("sorting")
>>> p.shown
False
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any, TextIO

from funnel.render.terminal import escape_controls

__all__ = ["Progress"]


class Progress:
    """Context manager: ``with Progress("analysing sample_events/") as p: ...``;
    ``p.buckets(done, total)`` is the ``progress`` callback of :func:`funnel.analyze`."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        quiet: bool = False,
        delay: float = 2.0,
        interval: float = 0.1,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self.label, self.delay, self.interval = escape_controls(label), delay, interval
        self.shown = False
        self._bar: Any = None
        self._task: Any = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._done, self._total = 0, None  # buckets, once the run reports them

    def stage(self, label: str) -> None:
        """Say what is being done now."""
        self.label = escape_controls(label)
        self._update()

    def buckets(self, done: int, total: int) -> None:
        """Count buckets of users done, with the time left."""
        with self._lock:
            self._done, self._total = done, total
        self._update(completed=done, total=total)

    def _update(self, **fields: Any) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(self._task, description=self.label, **fields)

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        console = Console(file=self.stream, force_terminal=True, highlight=False)
        bar = Bar(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("buckets · left"),
            TimeRemainingColumn(),
            TextColumn("· so far"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            refresh_per_second=max(1.0, 1 / self.interval),
        )
        with self._lock:
            self._task = bar.add_task(self.label, total=self._total, completed=self._done)
            bar.start()
            self._bar = bar
            self.shown = True

    def __enter__(self) -> Progress:
        if self.enabled:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        with self._lock:
            if self._bar is not None:
                self._bar.stop()  # transient: the bar erases itself
                self._bar = None
