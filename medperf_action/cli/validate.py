"""`medperf-action validate PATH`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import findings_format, out, render_findings
from medperf_action.domain.schemas import SCHEMA_FILES
from medperf_action.domain.validation import validate_path


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
@options.role
@click.option(
    "--kind",
    type=click.Choice(list(SCHEMA_FILES)),
    help="What PATH is (default: from its name and place).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    help="Output format (default: github under GitHub Actions, else text).",
)
@click.option(
    "--manifest-only",
    is_flag=True,
    help="Skip the existence checks of the build context and additional files "
    "(for a checkout that does not hold them).",
)
def validate(
    path: Path,
    role: str | None,
    kind: str | None,
    fmt: str | None,
    manifest_only: bool,
) -> None:
    """Check an MLCube directory, a manifest, or a registry/config file.

    PATH is an MLCube directory (holding mlcube.yaml, or its parent holding mlcube/),
    a container_config.yaml, a registry checkout, or any registry or config file.

    Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error.
    """
    fmt = findings_format(fmt)
    report = validate_path(path, kind=kind, role=role, manifest_only=manifest_only)
    shown = render_findings(report.findings, fmt)
    if shown:
        out(shown)
    valid = not report.errors
    if fmt != "json":
        verdict = "valid" if valid else "INVALID"
        target = report.files[0] if report.files else str(path)
        click.echo(
            f"{target}: {verdict} ({len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s))",
            err=fmt == "github",
        )
    ci.set_output("valid", "true" if valid else "false")
    sys.exit(0 if valid else 1)
