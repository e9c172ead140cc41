"""The one place where errors become exit codes (`errors.py` lists them all).

`MainGroup.invoke` wraps every command, nested ones too (`run` calls others in-process):

* an error of ours: `error: <message>` on stderr (an `::error` annotation under GitHub
  Actions) and its exit code; the traceback only with MEDPERF_ACTION_DEBUG=1;
* Ctrl-C, and SIGTERM (GitHub cancelling a job): the running containers are removed,
  whichever thread started them, and the exit code is 130;
* anything else is a bug: the traceback, a line asking to report it, exit code 70.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from medperf_action import __version__
from medperf_action.adapters import ci
from medperf_action.errors import EXIT_BUG, EXIT_INTERRUPTED, MedperfError
from medperf_action.interrupts import cancel_all
from medperf_action.settings import debug, in_actions

ISSUES_URL = "https://github.com/medperf-action/medperf-action/issues"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the command like Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_error(exc: MedperfError) -> None:
    if debug():
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    if in_actions():
        ci.annotate("error", str(exc))
    else:
        click.echo(f"error: {exc}", err=True)


@contextmanager
def handled() -> Iterator[None]:
    """Known failures become one clear message and an exit code, never a traceback."""
    try:
        with _sigterm_as_interrupt():
            yield
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click's own: usage errors (exit 2) and the like
    except KeyboardInterrupt:
        cancel_all()
        click.echo("interrupted: containers removed", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except MedperfError as exc:
        report_error(exc)
        raise SystemExit(exc.exit_code) from None
    except Exception:
        click.echo(traceback.format_exc().rstrip(), err=True)
        click.echo(
            f"error: this is a bug in medperf-action {__version__}; please report it, with "
            f"the lines above, at {ISSUES_URL}",
            err=True,
        )
        raise SystemExit(EXIT_BUG) from None


class MainGroup(click.Group):
    """The top-level group: every command it runs goes through `handled`."""

    def invoke(self, ctx: click.Context) -> Any:
        with handled():
            return super().invoke(ctx)
