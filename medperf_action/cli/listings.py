"""`benchmark ls`, `mlcube ls` and `association ls`: MedPerf's listings, from the registry."""

from __future__ import annotations

import json
from typing import Any

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import err, out
from medperf_action.errors import UsageError
from medperf_action.settings import github_token, registry_location
from medperf_action.usecases.listings import (
    associations_table,
    benchmarks_table,
    current_user,
    list_associations,
    list_benchmarks,
    list_mlcubes,
    mlcubes_table,
    open_view,
)


def _who(mine: bool, login: str | None, option: str, token: str | None) -> str | None:
    """The login to filter on: --mine's token user, or the one named by `option`."""
    if not mine:
        return login
    if login:
        raise UsageError(f"--mine and {option} exclude each other")
    try:
        github_token(token)
    except UsageError:
        raise UsageError(
            f"--mine needs a GitHub token to know who you are: pass --token or set "
            f"GITHUB_TOKEN, or name the user with {option} LOGIN"
        ) from None
    return current_user(token)


def _emit(kind: str, description: str, rows: list[Any], text: str, fmt: str) -> None:
    document = {"registry": description, kind: [r.to_json() for r in rows]}
    ci.set_json_output(f"{kind}-json", document[kind])
    if fmt == "json":
        out(json.dumps(document, indent=2))
    elif rows:
        out(text)
    else:
        out(f"No {kind} in {description}.")


@click.group("benchmark")
def benchmark() -> None:
    """Benchmarks of the registry (MedPerf's `medperf benchmark`)."""


@benchmark.command("ls")
@options.listing
def benchmark_ls(registry: str | None, token: str | None, fmt: str) -> None:
    """List the benchmarks: approval, state, and their three MLCubes.

    The equivalent of `medperf benchmark ls`.
    """
    view = open_view(registry_location(registry), token)
    rows = list_benchmarks(view)
    _emit("benchmarks", view.description, rows, benchmarks_table(rows), fmt)


@click.group("mlcube")
def mlcube() -> None:
    """MLCubes of the registry (MedPerf's `medperf mlcube`)."""


@mlcube.command("ls")
@click.option("--mine", is_flag=True, help="Only the token user's MLCubes.")
@click.option("--owner", metavar="LOGIN", help="Only the MLCubes this GitHub user owns.")
@options.listing
def mlcube_ls(
    mine: bool, owner: str | None, registry: str | None, token: str | None, fmt: str
) -> None:
    """List the registered MLCubes, and the submissions still waiting as open PRs.

    The equivalent of `medperf mlcube ls [--mine]`. A waiting submission shows the state
    "PENDING (PR #N)" and the values of mlcubes/ID.yaml at the PR's head. --mine asks
    GitHub who the token's user is (GET /user), for a local registry too; --owner LOGIN
    names the user instead, and needs no token.
    """
    who = _who(mine, owner, "--owner", token)
    view = open_view(registry_location(registry), token)
    rows = list_mlcubes(view, owner=who)
    for row in rows:
        if row.problem and row.pending:
            err(f"warning: PR #{row.pending.number}: {row.problem}")
    _emit("mlcubes", view.description, rows, mlcubes_table(rows), fmt)


@click.group("association")
def association() -> None:
    """Association requests (MedPerf's `medperf association`)."""


@association.command("ls")
@click.option("--benchmark", metavar="ID", help="Only this benchmark's associations.")
@click.option("--mlcube", metavar="ID", help="Only this MLCube's associations.")
@click.option("--status", type=options.STATUS_CHOICE, help="Only associations in this state.")
@click.option("--mine", is_flag=True, help="Only requests the token's user initiated.")
@click.option("--initiated-by", metavar="LOGIN", help="Only requests this GitHub user initiated.")
@options.listing
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
    who = _who(mine, initiated_by, "--initiated-by", token)
    view = open_view(registry_location(registry), token)
    rows = list_associations(
        view,
        benchmark=benchmark,
        mlcube=mlcube,
        status=status.upper() if status else None,
        initiated_by=who,
    )
    _emit("associations", view.description, rows, associations_table(rows), fmt)
