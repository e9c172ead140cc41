"""Which exceptions mean "bad input or a failed task" rather than a bug.

The CLI turns those into one clear message and an exit code instead of a traceback.
Every exception class that medperf_action defines is such an error; a usage error exits 2.
"""

from __future__ import annotations

from typing import Any


class MedperfError(Exception):
    """Base for errors the user can act on."""


class UsageError(MedperfError):
    """Bad command-line input (exit code 2)."""


def read_json(path: Any, what: str) -> Any:
    """A small JSON file we wrote earlier (release.json, manifest.json); a clear error if it
    was damaged since, never a traceback."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            return json.loads(handle.read(16 << 20))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: {what} cannot be read ({exc}); run the step again") from None


def exit_code(exc: BaseException) -> int | None:
    """2 for usage errors, 1 for any other error of ours, None for a bug (re-raise)."""
    if isinstance(exc, UsageError):
        return 2
    if any(cls.__module__.startswith("medperf_action.") for cls in type(exc).__mro__):
        return 1
    return None
