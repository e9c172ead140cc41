"""Everything medperf-action says to GitHub Actions and to the terminal beyond plain lines.

* outputs (`$GITHUB_OUTPUT`): only the names in `OUTPUTS`, which action.yml declares
  exactly (a test compares the two);
* the step summary (`$GITHUB_STEP_SUMMARY`), Markdown;
* annotations (`::error file=…,line=…::…`), escaped as GitHub requires;
* folded log groups (`::group::`);
* download progress: a bar on a terminal, a line every few seconds in a log;
* the event payload a workflow gives (`$GITHUB_EVENT_PATH`).

Outside GitHub Actions, outputs and the summary are not written and groups are plain
headings. No other module writes a workflow command or those files.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from medperf_action.errors import UsageError
from medperf_action.settings import in_actions
from medperf_action.text import human_size

#: Every output a command sets, with what it holds; action.yml declares exactly these.
OUTPUTS: dict[str, str] = {
    "valid": '"true" when the MLCube is valid (validate).',
    "passed": (
        '"true" when the compatibility test ran (test), or the registry\'s verification '
        "passed (registry verify, registry report)."
    ),
    "summary-json": "The execution summary of the compatibility test, as JSON.",
    "metrics-json": "The candidate's and the reference model's metrics, as JSON (test).",
    "assets-dir": "The folder package wrote the assets to (package).",
    "assets-json": "Each asset's URL and SHA-256 (publish), or the assets manifest (package).",
    "release-url": "The release the assets were published to (publish).",
    "image-digest": "The pushed image, as REPOSITORY@sha256:... (publish --push-image).",
    "pr-url": (
        "The pull request opened or updated in the registry (submit, associate, dataset "
        "register, dataset associate, result submit)."
    ),
    "submission-pr-url": "The submission's pull request (submit).",
    "association-pr-url": "The association request's pull request (associate).",
    "association-status": (
        "The association request's status (associate): PENDING, or WAITING-FOR-SUBMISSION "
        "when a tag push finds the submission not merged yet."
    ),
    "matrix": "A strategy.matrix of benchmark x model pairs (plan).",
    "runs-on": (
        "The site's self-hosted runner labels as JSON, from .medperf-site.yml (plan, in a "
        "data owner's repository)."
    ),
    "benchmarks-json": "The benchmarks, as JSON (benchmark ls).",
    "mlcubes-json": "The MLCubes, as JSON (mlcube ls).",
    "associations-json": "The associations, as JSON (association ls).",
    "dataset-json": (
        "The prepared dataset's entry: its hashes and statistics, never its data (dataset prepare)."
    ),
    "run-id": "The id of the run on the site (dataset prepare, dataset associate).",
    "runs-json": (
        "The runs of benchmark run: each one's model, run id, status and metrics, as JSON."
    ),
    "results-json": "The results, as JSON (result ls).",
    "report-dir": "The folder holding report.json and report.md (registry verify).",
    "outcome": "What registry on-label did: ignored, refused, approved, rejected or done.",
    "statement-sha256": (
        "The SHA-256 of the verify run's result statement that registry report checked and "
        "recorded (empty when it recorded none): what the registry's workflow attests."
    ),
}

#: A webhook payload is at most 25 MB.
MAX_EVENT_BYTES = 25 << 20
PROGRESS_INTERVAL_SECONDS = 5.0
TTY_INTERVAL_SECONDS = 0.1


def set_output(name: str, value: str) -> None:
    """Append `name=value` to $GITHUB_OUTPUT (a heredoc when the value spans lines)."""
    if name not in OUTPUTS:
        raise ValueError(f"output {name!r} is not declared in ci.OUTPUTS (and action.yml)")
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            handle.write(f"{name}={value}\n")


def json_line(value: Any) -> str:
    """JSON on one line, as outputs carry it."""
    return json.dumps(value, separators=(",", ":"))


def set_json_output(name: str, value: Any) -> None:
    set_output(name, json_line(value))


def add_summary(markdown: str) -> None:
    """Append Markdown to $GITHUB_STEP_SUMMARY."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n")


# --------------------------------------------------------------------------- annotations


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    kind: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    """A workflow command (`::error file=…,line=…::message`), escaped as GitHub requires."""
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
    if line is not None:
        props.append(f"line={line}")
    if col is not None:
        props.append(f"col={col}")
    if title:
        props.append(f"title={_escape_property(title)}")
    head = f"::{kind}"
    if props:
        head += " " + ",".join(props)
    return f"{head}::{_escape_data(message)}"


def annotate(kind: str, message: str, **where: Any) -> None:
    """Under Actions, an annotation; elsewhere `kind: message`. On stderr either way (the
    runner reads workflow commands there too), so that stdout keeps only results."""
    if in_actions():
        print(
            annotation(kind, message, title="medperf-action", **where), file=sys.stderr, flush=True
        )
    else:
        print(f"{kind}: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- groups

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
    folding = in_actions() and depth == 0
    if folding:
        print(f"::group::{title}", flush=True)
    else:
        print(f"== {title}", file=sys.stderr, flush=True)
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth
        if folding:
            print("::endgroup::", flush=True)


# --------------------------------------------------------------------------- progress


class TerminalProgress:
    """Download progress on stderr: a bar on a terminal, else a line every few seconds.

    Called as `progress(label, done, total, final)` by `files.download.fetch`.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self._last: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._printed: set[str] = set()

    def __call__(self, label: str, done: int, total: int | None, final: bool) -> None:
        stream = self.stream or sys.stderr
        tty = _isatty(stream)
        now = time.monotonic()
        self._started.setdefault(label, now)
        last = self._last.setdefault(label, now)
        interval = TTY_INTERVAL_SECONDS if tty else PROGRESS_INTERVAL_SECONDS
        if final:
            if not (tty or label in self._printed):
                return
        elif now - last < interval:
            return
        self._last[label] = now
        amount = human_size(done)
        if total:
            amount += f" / {human_size(total)} ({100 * done // total}%)"
        if tty:
            bar = ""
            if total:
                filled = min(30, 30 * done // total)
                bar = "[" + "#" * filled + "." * (30 - filled) + "] "
            stream.write(f"\r{label}: {bar}{amount}\x1b[K{chr(10) if final else ''}")
        else:
            verb = "downloaded" if final else "downloading"
            stream.write(f"{label}: {verb} {amount} in {now - self._started[label]:.0f} s\n")
        stream.flush()
        self._printed.add(label)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- events


def load_event(path: Path | str, option: str = "--event") -> dict[str, Any]:
    """A webhook event payload (a JSON object, at most 25 MB), e.g. $GITHUB_EVENT_PATH.

    `option` names where the path came from in the messages (`--event`, GITHUB_EVENT_PATH).
    """
    file = Path(path)
    try:
        if file.stat().st_size > MAX_EVENT_BYTES:
            raise UsageError(f"{option} {path}: too large for an event payload")
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{option} {path}: not a readable JSON event: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{option} {path}: not an event payload (a JSON object)")
    return data
