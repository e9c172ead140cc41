"""Findings: what `validate` reports, and the three ways of printing them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "notice"]


@dataclass(frozen=True)
class Finding:
    """One problem in one file, at one place."""

    severity: Severity
    code: str
    file: str
    line: int | None
    col: int | None
    key: str
    message: str
    value: str | None = None
    expected: str | None = None

    def text(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.body()}"

    def body(self, with_severity: bool = True) -> str:
        detail = self.message
        if self.value is not None:
            detail += f"; got {self.value}"
        if self.expected:
            detail += f"; expected {self.expected}"
        text = f"{self.key}: {detail}" if self.key else detail
        return (
            f"{self.severity}: {text} [{self.code}]" if with_severity else f"{text} [{self.code}]"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def show_value(value: Any, limit: int = 60) -> str:
    """A short, readable rendering of an offending value."""
    if isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list):
        text = f"a list of {len(value)}"
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value)
    else:
        text = f"{value!r} ({type(value).__name__})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(
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


def render(findings: Iterable[Finding], fmt: str) -> str:
    items = list(findings)
    if fmt == "json":
        return json.dumps([f.as_dict() for f in items], indent=2)
    if fmt == "github":
        lines = []
        for f in items:
            lines.append(
                github_command(
                    f.severity,
                    f.body(with_severity=False),
                    file=f.file,
                    line=f.line,
                    col=f.col,
                    title=f"medperf-action: {f.code}",
                )
            )
        return "\n".join(lines)
    return "\n".join(f.text() for f in items)
