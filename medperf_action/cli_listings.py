"""`benchmark ls`, `mlcube ls` and `association ls`: MedPerf's listings, from the registry.

Registered on the main group in cli.py (`main.add_command`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from medperf_action.cli_common import clean_errors

F = TypeVar("F", bound=Callable[..., Any])
STATUS_CHOICE = click.Choice(["PENDING", "APPROVED", "REJECTED"], case_sensitive=False)


def _common(func: F) -> F:
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
    func = click.option(
        "--registry",
        metavar="PATH|OWNER/REPO[@REF]",
        help="The registry: a local checkout, or a repository read through the GitHub API "
        "(default: $MEDPERF_REGISTRY, or $GITHUB_REPOSITORY under GitHub Actions).",
    )(func)
    return func


def _location(registry: str | None) -> str:
    from medperf_action import gha
    from medperf_action.errors import UsageError

    location = registry or os.environ.get("MEDPERF_REGISTRY")
    if not location and gha.in_actions():
        location = os.environ.get("GITHUB_REPOSITORY")
    if not location:
        raise UsageError("--registry PATH|OWNER/REPO[@REF] is needed (or set $MEDPERF_REGISTRY)")
    return location


def _who(mine: bool, login: str | None, option: str, token: str | None) -> str | None:
    """The login to filter on: --mine's token user, or the one named by `option`."""
    from medperf_action.errors import UsageError
    from medperf_action.github_api import resolve_token
    from medperf_action.listings import current_user

    if not mine:
        return login
    if login:
        raise UsageError(f"--mine and {option} exclude each other")
    try:
        resolve_token(token)
    except UsageError:
        raise UsageError(
            f"--mine needs a GitHub token to know who you are: pass --token or set "
            f"GITHUB_TOKEN, or name the user with {option} LOGIN"
        ) from None
    return current_user(token)


def _emit(kind: str, description: str, rows: list[Any], text: str, fmt: str) -> None:
    from medperf_action import gha

    document = {"registry": description, kind: [r.to_json() for r in rows]}
    gha.set_output(f"{kind}-json", json.dumps(document[kind], separators=(",", ":")))
    if fmt == "json":
        click.echo(json.dumps(document, indent=2))
    elif rows:
        click.echo(text)
    else:
        click.echo(f"No {kind} in {description}.")


@click.group("benchmark")
def benchmark() -> None:
    """Benchmarks of the registry (MedPerf's `medperf benchmark`)."""


@benchmark.command("ls")
@_common
@clean_errors
def benchmark_ls(registry: str | None, token: str | None, fmt: str) -> None:
    """List the benchmarks: approval, state, and their three MLCubes.

    The equivalent of `medperf benchmark ls`.
    """
    from medperf_action.github_api import errors
    from medperf_action.listings import benchmarks_table, list_benchmarks, open_view

    view = open_view(_location(registry), token)
    with errors(f"read the registry {view.description}"):
        rows = list_benchmarks(view)
    _emit("benchmarks", view.description, rows, benchmarks_table(rows), fmt)


@click.group("mlcube")
def mlcube() -> None:
    """MLCubes of the registry (MedPerf's `medperf mlcube`)."""


@mlcube.command("ls")
@click.option("--mine", is_flag=True, help="Only the token user's MLCubes.")
@click.option("--owner", metavar="LOGIN", help="Only the MLCubes this GitHub user owns.")
@_common
@clean_errors
def mlcube_ls(
    mine: bool, owner: str | None, registry: str | None, token: str | None, fmt: str
) -> None:
    """List the registered MLCubes, and the submissions still waiting as open PRs.

    The equivalent of `medperf mlcube ls [--mine]`. A waiting submission shows the state
    "PENDING (PR #N)" and the values of mlcubes/ID.yaml at the PR's head. --mine asks
    GitHub who the token's user is (GET /user), for a local registry too; --owner LOGIN
    names the user instead, and needs no token.
    """
    from medperf_action.github_api import errors
    from medperf_action.listings import list_mlcubes, mlcubes_table, open_view

    who = _who(mine, owner, "--owner", token)
    view = open_view(_location(registry), token)
    with errors(f"read the registry {view.description}"):
        rows = list_mlcubes(view, owner=who)
    for row in rows:
        if row.problem and row.pending:
            click.echo(f"warning: PR #{row.pending.number}: {row.problem}", err=True)
    _emit("mlcubes", view.description, rows, mlcubes_table(rows), fmt)


@click.group("association")
def association() -> None:
    """Association requests (MedPerf's `medperf association`)."""


@association.command("ls")
@click.option("--benchmark", metavar="ID", help="Only this benchmark's associations.")
@click.option("--mlcube", metavar="ID", help="Only this MLCube's associations.")
@click.option("--status", type=STATUS_CHOICE, help="Only associations in this state.")
@click.option("--mine", is_flag=True, help="Only requests the token's user initiated.")
@click.option("--initiated-by", metavar="LOGIN", help="Only requests this GitHub user initiated.")
@_common
@clean_errors
def association_ls(
    benchmark: str | None,
    mlcube: str | None,
    status: str | None,
    mine: bool,
    initiated_by: str | None,
    registry: str | None,
    token: str | None,
    fmt: str,
) -> None:
    """List the latest state of each (benchmark, MLCube) pair.

    The equivalent of `medperf association ls`. APPROVED comes from the files on the
    registry's default branch, PENDING from open PRs with the pending label, REJECTED
    from closed, unmerged PRs with the rejected label; the latest of them by time wins
    (a local registry has no PRs: its files say it all). --mine asks GitHub who the
    token's user is (GET /user); --initiated-by LOGIN names the user instead.
    """
    from medperf_action.github_api import errors
    from medperf_action.listings import associations_table, list_associations, open_view

    who = _who(mine, initiated_by, "--initiated-by", token)
    view = open_view(_location(registry), token)
    with errors(f"read the registry {view.description}"):
        rows = list_associations(
            view,
            benchmark=benchmark,
            mlcube=mlcube,
            status=status.upper() if status else None,
            initiated_by=who,
        )
    _emit("associations", view.description, rows, associations_table(rows), fmt)
