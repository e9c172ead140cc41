"""A container's log, read line by line while it runs: echoed, written to a file, its tail
kept for the message of a failure, and cut (saying so) past a limit."""

from __future__ import annotations

import collections
import threading
from typing import IO, TYPE_CHECKING

from medperf_action.settings import DEFAULT_LOG_LIMIT
from medperf_action.text import Log

if TYPE_CHECKING:
    from docker.models.containers import Container

LOG_TAIL_LINES = 30
_MAX_LINE = 64 * 1024


class LogPump(threading.Thread):
    """Reads a container's log stream line by line: echo, file, tail."""

    def __init__(
        self,
        container: Container,
        log_file: IO[str] | None,
        echo: Log | None,
        prefix: str,
        limit: int = DEFAULT_LOG_LIMIT,
    ) -> None:
        super().__init__(name="medperf-log-pump", daemon=True)
        self.container = container
        self.log_file = log_file
        self.echo = echo
        self.prefix = prefix
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.error: BaseException | None = None
        self.limit = limit
        self.kept = 0
        self.cut = False
        self._lock = threading.Lock()

    def _emit(self, raw: bytes) -> None:
        # "\r" rewrites a terminal line (progress bars): keep what a terminal would show
        line = raw.decode("utf-8", errors="replace").rstrip("\r").rsplit("\r", 1)[-1]
        with self._lock:
            self.tail.append(line)  # the tail goes on, for the message of a failure
            self.kept += len(line) + 1
            if self.kept > self.limit:
                if self.cut:
                    return
                self.cut = True
                line = f"[medperf-action: the rest of this log is cut, past {self.limit:,} bytes]"
            if self.log_file is not None:
                try:
                    self.log_file.write(line + "\n")
                    self.log_file.flush()
                except (OSError, ValueError):  # disk full, or closed after a hung stream
                    self.log_file = None
        if self.echo is not None:
            try:
                self.echo(self.prefix + line)
            except Exception:  # an echo callback must never stop the pump
                self.echo = None

    def run(self) -> None:
        buf = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self._emit(line)
                if len(buf) > _MAX_LINE:  # no newline for a long while: emit what there is
                    self._emit(buf)
                    buf = b""
        except Exception as exc:  # the container was removed under us, engine gone, ...
            self.error = exc
        finally:
            if buf:
                self._emit(buf)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.tail)
