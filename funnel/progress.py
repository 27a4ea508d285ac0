"""A progress indicator for the terminal: a spinner with the elapsed time on stderr.

It appears only when a run takes longer than ``delay`` seconds, only on a terminal, and
never with ``--quiet``; it erases itself when the run ends, so output stays clean.

>>> import io
>>> with Progress("analysing", stream=io.StringIO()) as p:  # not a terminal: silent
...     p.stage("sorting")
>>> p.shown
False
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Progress:
    """Context manager: ``with Progress("analysing sample_events/") as p: ...``."""

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
        self.label, self.delay, self.interval = label, delay, interval
        self.shown = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def stage(self, label: str) -> None:
        """Say what is being done now."""
        self.label = label

    def buckets(self, done: int, total: int) -> None:
        """Count buckets of users done (the ``progress`` callback of :func:`funnel.analyze`)."""
        base = self.label.split(" [", 1)[0]
        self.label = f"{base} [buckets {done}/{total}]"

    def _run(self) -> None:
        frame = 0
        while not self._stop.wait(self.interval):
            elapsed = time.monotonic() - self._start
            if elapsed < self.delay:
                continue
            self.shown = True
            text = f"\r{_FRAMES[frame % len(_FRAMES)]} {self.label} … {elapsed:.0f} s"
            self.stream.write(text + "\033[K")
            self.stream.flush()
            frame += 1

    def __enter__(self) -> Progress:
        self._start = time.monotonic()
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
