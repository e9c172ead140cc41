"""Findings: what validation reports, one problem in one file at one place.

They are printed by the CLI (`cli/findings.py`: text, JSON or annotations)."""

from __future__ import annotations

import json
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
        """The finding as JSON: `value` is the offending value itself (a string without
        the quotes the text form puts around it)."""
        data = asdict(self)
        data["value"] = _plain(self.value)
        return data


def _plain(shown: str | None) -> str | None:
    if shown is None or not shown.startswith('"'):
        return shown
    try:
        value = json.loads(shown)
    except ValueError:  # shortened: the quoted text without its quotes
        return shown[1:].rstrip('"')
    return value if isinstance(value, str) else shown
