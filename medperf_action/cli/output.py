"""What the commands write for the user: lines on stderr, results on stdout, findings in
three formats (a line each, JSON, or GitHub annotations)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import click

from medperf_action.adapters import ci
from medperf_action.domain.findings import Finding
from medperf_action.settings import in_actions


def err(line: str) -> None:
    """A progress or log line, on stderr (the `Log` the use cases are given)."""
    click.echo(line, err=True)


def out(text: str) -> None:
    """A result, on stdout."""
    click.echo(text)


def findings_format(given: str | None) -> str:
    """`--format`, else `github` under GitHub Actions and `text` elsewhere."""
    return given or ("github" if in_actions() else "text")


def render_findings(findings: Iterable[Finding], fmt: str) -> str:
    items = list(findings)
    if fmt == "json":
        return json.dumps([f.as_dict() for f in items], indent=2)
    if fmt == "github":
        return "\n".join(
            ci.annotation(
                f.severity,
                f.body(with_severity=False),
                file=f.file,
                line=f.line,
                col=f.col,
                title=f"medperf-action: {f.code}",
            )
            for f in items
        )
    return "\n".join(f.text() for f in items)
