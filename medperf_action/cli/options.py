"""Options that several commands share, each defined once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, cast

import click

from medperf_action.adapters import ci
from medperf_action.cli.output import err
from medperf_action.errors import UsageError
from medperf_action.settings import DEFAULT_MEMORY
from medperf_action.text import Log

if TYPE_CHECKING:  # a type only: validate, which has no download, need not import them
    from medperf_action.adapters.files.download import Progress

F = TypeVar("F", bound=Callable[..., Any])
#: Where `test` and `associate` keep a run's results, logs and commands under GitHub
#: Actions (the folder the reusable workflow uploads), as `run` does.
RESULTS_FOLDER = Path("medperf-results")

ROLE_CHOICE = click.Choice(["model", "data-preparator", "metrics"])
STATUS_CHOICE = click.Choice(["PENDING", "APPROVED", "REJECTED"], case_sensitive=False)


def role(func: F) -> F:
    return click.option(
        "--role",
        type=ROLE_CHOICE,
        help="The cube's MedPerf role (default: .medperf.yml's role for the repository's "
        "MLCube, else inferred from the tasks).",
    )(func)


def config(func: F) -> F:
    return click.option(
        "--config",
        type=click.Path(path_type=Path),
        help="The model repository's settings (default: the .medperf.yml of the repository "
        "the current folder is in).",
    )(func)


def renamed(old: str, new: str, param: str, type: Any = None) -> Callable[[F], F]:
    """`old`, the former name of the option `new` (whose parameter is `param`), kept
    hidden for one release: it still works, with a note saying the new name."""
    hidden = "renamed_" + old.lstrip("-").replace("-", "_")

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden)
            if value is not None:
                source = click.get_current_context().get_parameter_source(param)
                given = source not in (None, click.core.ParameterSource.DEFAULT)
                if given and kwargs.get(param) != value:
                    raise UsageError(f"{old} is the old name of {new}: give one of the two")
                err(f"note: {old} is now {new}; the old name goes in the next release")
                kwargs[param] = value
            return func(*args, **kwargs)

        return cast(F, click.option(old, hidden, type=type, hidden=True)(wrapper))

    return decorate


REGISTRY_HELP = (
    "The registry: a local checkout, or a repository read through the GitHub API "
    "(default: $MEDPERF_REGISTRY, else the registry in .medperf.yml{})."
)


def registry(func: F) -> F:
    """--registry, the same in every command that reads a registry."""
    return click.option(
        "--registry", metavar="PATH|OWNER/REPO[@REF]", help=REGISTRY_HELP.format("")
    )(func)


def registry_or_this(func: F) -> F:
    """--registry for the listings, which a registry's own workflow runs too."""
    return click.option(
        "--registry",
        metavar="PATH|OWNER/REPO[@REF]",
        help=REGISTRY_HELP.format(", else this repository under GitHub Actions"),
    )(func)


def mlcube_id(help: str) -> Callable[[F], F]:
    """--mlcube-id ID: an MLCube's id in the registry, one name in every command."""

    def decorate(func: F) -> F:
        return click.option("--mlcube-id", "mlcube_id", metavar="ID", help=help)(func)

    return decorate


def benchmark(help: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option("--benchmark", "benchmark_id", metavar="ID", help=help)(func)

    return decorate


def read_token(func: F) -> F:
    """--token for the commands that read GitHub."""
    return click.option(
        "--token",
        help="GitHub token (default: $GITHUB_TOKEN). Without one, a public registry is "
        "read anonymously. Never printed.",
    )(func)


def request_token(func: F) -> F:
    """--token for the commands that open requests in a registry."""
    return click.option(
        "--token",
        help="Token for the registry (default: $MEDPERF_REGISTRY_TOKEN, "
        "then $GITHUB_TOKEN). Never printed.",
    )(func)


def registry_request(func: F) -> F:
    """--registry and --token for the commands that open requests in a registry."""
    return registry(request_token(func))


def container_run(func: F) -> F:
    """--timeout, --memory, --gpus and --quiet: how the cubes' containers run."""
    func = click.option(
        "--quiet",
        is_flag=True,
        help="Do not echo the containers' logs nor the image builds' output.",
    )(func)
    return container_limits(func)


def container_limits(func: F) -> F:
    """--timeout, --memory and --gpus (a site's commands: no --quiet, a site never shows
    a container's output)."""
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
    return registry_or_this(read_token(func))


def verify_signature(what: str) -> Callable[[F], F]:
    """--verify-signature PUBKEY: check the model signature (model.sig) first."""

    def decorate(func: F) -> F:
        return click.option(
            "--verify-signature",
            "verify_signature",
            type=click.Path(path_type=Path, exists=True, dir_okay=False),
            metavar="PUBKEY",
            help=f"Before anything else, check the model signature (model.sig) of {what} "
            "against this public key (PEM); a missing, changed or foreign signature fails.",
        )(func)

    return decorate
