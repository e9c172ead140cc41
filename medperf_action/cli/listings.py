"""`benchmark ls`, `mlcube ls` and `association ls`: MedPerf's listings, from the registry."""

from __future__ import annotations

import json
from typing import Any

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import err, out
from medperf_action.cli.site import benchmark_run
from medperf_action.errors import UsageError
from medperf_action.settings import github_token
from medperf_action.usecases.listings import (
    RegistryView,
    associations_table,
    benchmarks_table,
    current_user,
    list_associations,
    list_benchmarks,
    list_mlcubes,
    mlcubes_table,
    open_view,
)
from medperf_action.usecases.repo_config import registry_for, repo_defaults


def _who(
    mine: bool, login: str | None, option: str, token: str | None, view: RegistryView
) -> str | None:
    """The login to filter on: the one named by `option`, or for --mine the owner of this
    repository's mlcube (.medperf.yml's id) on a local registry, else the token's user."""
    if not mine:
        return login
    if login:
        raise UsageError(f"--mine and {option} exclude each other")
    repo = repo_defaults()
    owner = view.owner(repo.mlcube_id) if repo.mlcube_id else None
    if owner and (view.repo is None or not _have_token(token)):
        return owner
    if not _have_token(token):
        raise UsageError(
            f"--mine needs to know who you are: pass --token or set GITHUB_TOKEN, run it in "
            f"a model repository whose mlcube is registered, or name the user with {option} "
            "LOGIN"
        )
    return current_user(token)


def _have_token(token: str | None) -> bool:
    try:
        github_token(token)
    except UsageError:
        return False
    return True


def _open(registry: str | None, token: str | None) -> RegistryView:
    return open_view(registry_for(registry, this_repo=True), token)


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


benchmark.add_command(benchmark_run)


@benchmark.command("ls")
@options.listing
def benchmark_ls(registry: str | None, token: str | None, fmt: str) -> None:
    """List the benchmarks: approval, state, and their three MLCubes.

    The equivalent of `medperf benchmark ls`.
    """
    view = _open(registry, token)
    rows = list_benchmarks(view)
    _emit("benchmarks", view.description, rows, benchmarks_table(rows), fmt)


@click.group("mlcube")
def mlcube() -> None:
    """MLCubes of the registry (MedPerf's `medperf mlcube`)."""


@mlcube.command("ls")
@click.option("--mine", is_flag=True, help="Only your MLCubes (see below who you are).")
@click.option("--owner", metavar="LOGIN", help="Only the MLCubes this GitHub user owns.")
@options.listing
def mlcube_ls(
    mine: bool, owner: str | None, registry: str | None, token: str | None, fmt: str
) -> None:
    """List the registered MLCubes, and the submissions still waiting as open PRs.

    The equivalent of `medperf mlcube ls [--mine]`. A waiting submission shows the state
    "PENDING (PR #N)" and the values of mlcubes/ID.yaml at the PR's head. For --mine,
    you are the owner of this repository's mlcube (.medperf.yml's id) on a local registry
    or when there is no token; else the token's user (GET /user). --owner LOGIN names
    the user instead, and needs no token.
    """
    view = _open(registry, token)
    who = _who(mine, owner, "--owner", token, view)
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
@options.mlcube_id("Only this MLCube's associations.")
@options.renamed("--mlcube", "--mlcube-id", "mlcube_id")
@click.option("--status", type=options.STATUS_CHOICE, help="Only associations in this state.")
@click.option("--mine", is_flag=True, help="Only requests you initiated (as mlcube ls --mine).")
@click.option("--initiated-by", metavar="LOGIN", help="Only requests this GitHub user initiated.")
@options.listing
def association_ls(
    benchmark: str | None,
    mlcube_id: str | None,
    status: str | None,
    mine: bool,
    initiated_by: str | None,
    registry: str | None,
    token: str | None,
    fmt: str,
) -> None:
    """List the latest state of each (benchmark, MLCube) pair.

    The equivalent of `medperf association ls`. APPROVED comes from the files on the
    registry's default branch, PENDING from the mlcube owner's open requests ("awaiting
    verification" until the registry's workflow labels them pending), REJECTED from
    closed, unmerged PRs with the rejected label; the latest of them by time wins
    (a local registry has no PRs: its files say it all). --mine means you, as for
    `mlcube ls --mine`; --initiated-by LOGIN names the user instead.
    """
    view = _open(registry, token)
    who = _who(mine, initiated_by, "--initiated-by", token, view)
    rows = list_associations(
        view,
        benchmark=benchmark,
        mlcube=mlcube_id,
        status=status.upper() if status else None,
        initiated_by=who,
    )
    _emit("associations", view.description, rows, associations_table(rows), fmt)
