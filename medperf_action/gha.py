"""GitHub Actions' file commands: outputs, the step summary, folded log groups."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def set_output(name: str, value: str) -> None:
    """Append `name=value` to $GITHUB_OUTPUT (a heredoc when the value spans lines)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            handle.write(f"{name}={value}\n")


def add_summary(markdown: str) -> None:
    """Append markdown to $GITHUB_STEP_SUMMARY."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n")


_depth = threading.local()


@contextmanager
def group(title: str) -> Iterator[None]:
    """Fold the enclosed log lines under Actions; a plain heading elsewhere.

    GitHub does not nest groups (an inner `::group::` ends the outer one), so inside a
    group this only prints the title.
    """
    depth = getattr(_depth, "value", 0)
    if threading.current_thread() is not threading.main_thread():
        depth += 1  # tests side by side (run --jobs): their groups would interleave
    if in_actions() and depth == 0:
        print(f"::group::{title}", flush=True)
    else:
        print(f"== {title}", file=sys.stderr, flush=True)
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth
        if in_actions() and depth == 0:
            print("::endgroup::", flush=True)
