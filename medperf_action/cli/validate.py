"""`medperf-action validate PATH`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import findings_format, out, render_findings
from medperf_action.domain.schemas import SCHEMA_FILES
from medperf_action.usecases.repo_config import repo_defaults
from medperf_action.usecases.signatures import assets_folder, verify_folder
from medperf_action.usecases.validating import validate_target


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path), required=False)
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
@options.verify_signature("PATH's assets folder (PATH itself, or the assets/ package wrote)")
@options.config
def validate(
    path: Path | None,
    role: str | None,
    kind: str | None,
    fmt: str | None,
    manifest_only: bool,
    verify_signature: Path | None,
    config: Path | None,
) -> None:
    """Check an MLCube directory, a manifest, or a registry/config file.

    PATH is an MLCube directory (holding mlcube.yaml, or its parent holding mlcube/),
    a container_config.yaml, a registry checkout, or any registry or config file. A
    model repository's root (the folder holding .medperf.yml; the default inside one)
    means its .medperf.yml and its MLCube. The repository's MLCube is checked with the
    role .medperf.yml gives it; elsewhere the role is inferred from the tasks.

    Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error.
    """
    fmt = findings_format(fmt)
    if verify_signature is not None:
        target = path or repo_defaults(config).mlcube_dir or Path(".")
        folder = assets_folder(target)
        signer = verify_folder(folder, verify_signature)
        click.echo(f"{folder}: the signature is valid, signed by {signer}", err=True)
    checked = validate_target(
        path, kind=kind, role=role, manifest_only=manifest_only, config=config
    )
    report = checked.report
    shown = render_findings(report.findings, fmt)
    if shown:
        out(shown)
    valid = not report.errors
    if fmt != "json":
        verdict = "valid" if valid else "INVALID"
        click.echo(
            f"{checked.target}: {verdict} ({len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s))",
            err=fmt == "github",
        )
    ci.set_output("valid", "true" if valid else "false")
    sys.exit(0 if valid else 1)
