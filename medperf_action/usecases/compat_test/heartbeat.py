"""Life signs of a long task: "still running: model infer (candidate), 2 min".

A task that shows nothing for `interval` seconds (it prints nothing, or its lines are
hidden by --quiet) gets a line from the tool every `interval` seconds, so a log in
GitHub Actions never looks hung. The interval is a parameter (`Options.heartbeat_s`), so
a test can use a short one.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from medperf_action.text import Log

HEARTBEAT_SECONDS = 30.0


def elapsed(seconds: float) -> str:
    """`12 s`, `2 min`, `1 h 5 min`: how long, as a person says it."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class Heartbeat:
    """While entered, logs "still running: TITLE, N min" when nothing was shown for
    `interval` seconds; `echo` (when given) is what the task's own lines go through."""

    def __init__(self, title: str, log: Log, interval: float, echo: Log | None) -> None:
        self.title = title
        self.log = log
        self.interval = interval
        self._echo = echo
        self.started = self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="medperf-heartbeat", daemon=True)

    @property
    def echo(self) -> Log | None:
        """The task's lines are shown through this (None when they are hidden)."""
        return None if self._echo is None else self._shown

    def _shown(self, line: str) -> None:
        self.last = time.monotonic()
        assert self._echo is not None
        self._echo(line)

    def _beat(self) -> None:
        while not self._stop.wait(max(0.01, self.last + self.interval - time.monotonic())):
            now = time.monotonic()
            if now - self.last >= self.interval:
                self.last = now
                self.log(f"still running: {self.title}, {elapsed(now - self.started)}")

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
