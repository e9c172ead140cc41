"""What must be undone when the process is interrupted (Ctrl-C, SIGTERM).

A compatibility test registers how to cancel itself while it runs (its containers are
removed, whichever thread started them); the CLI's error handler calls `cancel_all` on an
interrupt. This module sits below every layer, so the handler need not import the
engine, and a process that never ran a test has nothing to cancel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_CANCELS: dict[int, Callable[[], None]] = {}
_LOCK = threading.Lock()


@contextmanager
def cancellable(cancel: Callable[[], None]) -> Iterator[None]:
    """While the block runs, an interrupt calls `cancel`."""
    key = id(cancel)
    with _LOCK:
        _CANCELS[key] = cancel
    try:
        yield
    finally:
        with _LOCK:
            _CANCELS.pop(key, None)


def cancel_all() -> None:
    """Cancel everything that is running, in this thread (the others may be blocked)."""
    with _LOCK:
        cancels = list(_CANCELS.values())
    for cancel in cancels:
        cancel()
