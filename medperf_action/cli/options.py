"""Options that several commands share, each defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import click

from medperf_action.adapters import ci
from medperf_action.adapters.files.download import Progress
from medperf_action.cli.output import err
from medperf_action.settings import DEFAULT_MEMORY
from medperf_action.text import Log

F = TypeVar("F", bound=Callable[..., Any])

ROLE_CHOICE = click.Choice(["model", "data-preparator", "metrics"])
STATUS_CHOICE = click.Choice(["PENDING", "APPROVED", "REJECTED"], case_sensitive=False)


def role(func: F) -> F:
    return click.option(
        "--role", type=ROLE_CHOICE, help="The cube's MedPerf role (default: inferred)."
    )(func)


def config(func: F) -> F:
    return click.option("--config", type=click.Path(path_type=Path), help="Default: .medperf.yml.")(
        func
    )


def registry_request(func: F) -> F:
    """--registry and --token for the commands that open requests in a registry."""
    func = click.option(
        "--token",
        help="Token for the registry (default: $MEDPERF_REGISTRY_TOKEN, "
        "then $GITHUB_TOKEN). Never printed.",
    )(func)
    return click.option(
        "--registry", help="The registry, OWNER/REPO[@REF] (default: from .medperf.yml)."
    )(func)


def container_run(func: F) -> F:
    """--timeout, --memory, --gpus and --quiet: how the cubes' containers run."""
    func = click.option("--quiet", is_flag=True, help="Do not echo the containers' logs.")(func)
    func = click.option(
        "--memory",
        default=DEFAULT_MEMORY,
        show_default=True,
        metavar="SIZE",
        help="Memory limit of each task's container, as Docker writes it (e.g. 16g).",
    )(func)
    func = click.option(
        "--gpus",
        is_flag=True,
        help=(
            "Give GPUs to the cubes that ask for them: an MLCube whose "
            "platform.accelerator_count is above 0, a container_config task with run_args.gpus."
        ),
    )(func)
    return click.option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=1),
        default=3600.0,
        show_default=True,
        help="Time limit per task, in seconds.",
    )(func)


class ContainerSettings(TypedDict):
    timeout_s: float
    memory: str
    gpus: bool
    echo: Log | None
    log: Log
    progress: Progress | None


def container_settings(timeout_s: float, memory: str, gpus: bool, quiet: bool) -> ContainerSettings:
    """What `container_run`'s options set in the compatibility test's `Options`, with the
    terminal's log lines and download progress."""
    return ContainerSettings(
        timeout_s=timeout_s,
        memory=memory,
        gpus=gpus,
        echo=None if quiet else err,
        log=err,
        progress=ci.TerminalProgress(),
    )


def listing(func: F) -> F:
    """--registry, --token and --format, shared by the listings."""
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="A table, or JSON.",
    )(func)
    func = click.option(
        "--token",
        help="GitHub token (default: $GITHUB_TOKEN). Without one, a public registry is "
        "read anonymously. Never printed.",
    )(func)
    return click.option(
        "--registry",
        metavar="PATH|OWNER/REPO[@REF]",
        help="The registry: a local checkout, or a repository read through the GitHub API "
        "(default: $MEDPERF_REGISTRY, or $GITHUB_REPOSITORY under GitHub Actions).",
    )(func)
