"""What every command module shares: turning known errors into an exit code."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(func: F) -> F:
    """Known failures become one clear message and an exit code, never a traceback.

    SIGTERM (GitHub cancelling a job) is handled like Ctrl-C: the containers this process
    started are removed, whichever thread started them, and the exit code says so.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = _on_sigterm()
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            workflow = sys.modules.get("medperf_action.workflow")
            if workflow is not None:
                workflow.cancel_all()
            click.echo("interrupted: containers removed", err=True)
            sys.exit(130)
        except Exception as exc:
            from medperf_action.errors import exit_code

            code = exit_code(exc)
            if code is None:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(code)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt (main thread only); the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)
