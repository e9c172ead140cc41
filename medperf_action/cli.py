"""The `medperf-action` command line.

Heavy modules (docker, github, jsonschema) are imported inside the commands that need them,
so that `--help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from medperf_action import __version__

F = TypeVar("F", bound=Callable[..., Any])

ROLE_CHOICE = click.Choice(["model", "data-preparator", "metrics"])
KIND_CHOICE = click.Choice(
    [
        "mlcube",
        "container-config",
        "parameters",
        "registry",
        "benchmark",
        "mlcube-entry",
        "association",
        "summary",
        "model-repo",
    ]
)


def clean_errors(func: F) -> F:
    """Known failures become one clear message and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            from medperf_action.errors import exit_code

            code = exit_code(exc)
            if code is None:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medperf-action")
def main() -> None:
    """GitOps for federated medical-AI benchmarks (MedPerf MLCubes).

    Validate an MLCube, run a benchmark's compatibility test in sandboxed Docker
    containers, publish the assets, and request association through pull requests
    to a registry repository.
    """


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--role", type=ROLE_CHOICE, help="The cube's MedPerf role (default: inferred).")
@click.option("--kind", type=KIND_CHOICE, help="What PATH is (default: from its name and place).")
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
@clean_errors
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
    from medperf_action import gha
    from medperf_action.findings import render
    from medperf_action.validate import validate_path

    if fmt is None:
        fmt = "github" if gha.in_actions() else "text"
    report = validate_path(path, kind=kind, role=role, manifest_only=manifest_only)
    out = render(report.findings, fmt)
    if out:
        click.echo(out)
    valid = not report.errors
    if fmt != "json":
        verdict = "valid" if valid else "INVALID"
        target = report.files[0] if report.files else str(path)
        click.echo(
            f"{target}: {verdict} ({len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s))",
            err=fmt == "github",
        )
    gha.set_output("valid", "true" if valid else "false")
    sys.exit(0 if valid else 1)
