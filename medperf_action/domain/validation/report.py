"""What validation collects: a report of findings, and the checker that adds them with
positions taken from the YAML document."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.domain.cube import Cube
from medperf_action.domain.findings import Finding, Severity
from medperf_action.domain.schemas import known_valid, remember_valid, schema_problems
from medperf_action.domain.yamldoc import Document, KeyPath, Mark, format_path, load_text, read_text
from medperf_action.errors import MedperfError, YamlError
from medperf_action.text import show_value


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    kind: str | None = None
    role: str | None = None
    role_inferred: bool = False
    cube: Cube | None = None
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)
        self.files.extend(other.files)

    def raise_errors(self, error: type[MedperfError], what: str, limit: int = 50) -> None:
        """Raise `error` with `what` and the error findings, one a line, if there are any:
        the one "validate or raise" of the tool."""
        if not self.errors:
            return
        lines = [f.text() for f in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"... and {len(self.errors) - limit} more")
        raise error(f"{what}:\n" + "\n".join(lines))


def display(path: Path) -> str:
    """A path as the user will recognise it: relative to the working directory when it is
    inside it, else absolute (never a climb of `../..`)."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:
        return absolute
    return absolute if relative == ".." or relative.startswith("../") else relative


class Checker:
    """Collects findings for one file."""

    def __init__(
        self, path: Path, report: Report, text: str | None = None, shown_as: str | None = None
    ) -> None:
        self.path = path
        self.file = shown_as or display(path)
        self.report = report
        self.doc: Document | None = None
        self.text = text
        report.files.append(self.file)

    def add(
        self,
        severity: Severity,
        code: str,
        path: KeyPath,
        message: str,
        *,
        value: Any = None,
        expected: str | None = None,
        key: bool = False,
        show: bool = True,
        mark: Mark | None = None,
    ) -> None:
        if mark is None and self.doc is not None:
            mark = self.doc.mark(path, key=key)
        self.report.findings.append(
            Finding(
                severity,
                code,
                self.file,
                mark.line if mark else None,
                mark.col if mark else None,
                format_path(path) if path else "",
                message,
                show_value(value) if show and value is not None else None,
                expected,
            )
        )

    def error(self, code: str, path: KeyPath, message: str, **kw: Any) -> None:
        self.add("error", code, path, message, **kw)

    def warn(self, code: str, path: KeyPath, message: str, **kw: Any) -> None:
        self.add("warning", code, path, message, **kw)

    def load(self, kind: str) -> Any:
        """Parse and schema-check; returns the data, or None when it could not be parsed."""
        try:
            text = read_text(self.path) if self.text is None else self.text
            self.doc = load_text(text)
        except YamlError as exc:
            self.report.findings.append(
                Finding(
                    "error",
                    exc.code,
                    self.file,
                    exc.line,
                    exc.col,
                    "",
                    exc.message,
                )
            )
            return None
        for dup in self.doc.duplicates:
            self.error(
                "duplicate-key",
                dup.path,
                f"duplicate key {dup.path[-1]!r} (first defined at line {dup.first.line}); "
                "YAML would keep only the last value",
                mark=dup.mark,
            )
        if known_valid(kind, text):
            return self.doc.data
        problems = list(schema_problems(kind, self.doc))
        if not problems:
            remember_valid(kind, text)
        for path, mark, message, value, expected in problems:
            self.report.findings.append(
                Finding(
                    "error",
                    "schema",
                    self.file,
                    mark.line,
                    mark.col,
                    format_path(path) if path else "",
                    message,
                    value,
                    expected,
                )
            )
        return self.doc.data


def in_file_order(report: Report) -> Report:
    """Findings in file order, then by position, as a reader goes through them."""
    order = {name: i for i, name in enumerate(report.files)}
    report.findings.sort(key=lambda f: (order.get(f.file, len(order)), f.line or 0, f.col or 0))
    return report
