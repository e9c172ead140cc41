"""Which exceptions mean "bad input or a failed task" rather than a bug.

The CLI turns those into one clear message and an exit code instead of a traceback.
Every exception class that medperf_action defines is such an error; a usage error exits 2.
"""

from __future__ import annotations


class MedperfError(Exception):
    """Base for errors the user can act on."""


class UsageError(MedperfError):
    """Bad command-line input (exit code 2)."""


def exit_code(exc: BaseException) -> int | None:
    """2 for usage errors, 1 for any other error of ours, None for a bug (re-raise)."""
    if isinstance(exc, UsageError):
        return 2
    if any(cls.__module__.startswith("medperf_action.") for cls in type(exc).__mro__):
        return 1
    return None
