"""`medperf-action submit` and `associate`: the model owner's requests to the registry."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from medperf_action.adapters import ci
from medperf_action.adapters.files.atomic import read_json_object
from medperf_action.adapters.github.proposals import Proposed
from medperf_action.cli import options
from medperf_action.cli.output import err, out
from medperf_action.errors import RequestRefused, UsageError
from medperf_action.settings import in_actions, registry_token
from medperf_action.usecases.compat_test.engine import run_workflow
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.report import text_report
from medperf_action.usecases.registries import open_registry
from medperf_action.usecases.repo_config import repo_defaults
from medperf_action.usecases.requests import Submission, associate, not_submitted, submit


@click.command("submit")
@options.registry_request
@options.mlcube_id("The id to register (default: `id` in .medperf.yml).")
@click.option("--name", help="A human-readable name (default: `name` in .medperf.yml).")
@click.option(
    "--role",
    type=options.ROLE_CHOICE,
    help="Default: .medperf.yml's role, else the role package recorded.",
)
@click.option("--description", help="A short description for the registry.")
@click.option(
    "--assets",
    type=click.Path(path_type=Path, file_okay=False),
    help="The assets folder publish wrote release.json into (default: assets/ in the MLCube "
    "folder .medperf.yml names).",
)
@options.config
def submit_command(
    registry: str | None,
    token: str | None,
    mlcube_id: str | None,
    name: str | None,
    role: str | None,
    description: str | None,
    assets: Path | None,
    config: Path | None,
) -> None:
    """Propose the published MLCube to the registry as mlcubes/<id>.yaml (a PR).

    The equivalent of `medperf mlcube submit`. The PR comes from your fork of the
    registry, on the branch medperf/submit/<id>; running it again updates the same PR.
    """
    repo = repo_defaults(config)
    registry = repo.need_registry(registry)
    mlcube_id = mlcube_id or repo.mlcube_id
    if not mlcube_id:
        raise UsageError("--mlcube-id is needed (or a .medperf.yml with an id)")
    assets = assets or (repo.mlcube_dir or Path("mlcube")) / "assets"
    manifest = assets / "manifest.json"
    recorded = (
        read_json_object(manifest, "run `medperf-action package` again")
        if manifest.is_file()
        else {}
    )
    sub = Submission(
        mlcube_id=mlcube_id,
        name=name or repo.name or recorded.get("name") or mlcube_id,
        role=role or repo.role or recorded.get("role") or "model",
        description=description,
    )
    token = registry_token(token)
    proposed, _ = submit(open_registry(registry, token), sub, assets, token=token)
    verb = "opened" if proposed.created else "updated" if proposed.file_written else "unchanged"
    out(f"{verb}: {proposed.url}")
    ci.set_output("pr-url", proposed.url)
    ci.set_output("submission-pr-url", proposed.url)


@click.command("associate")
@options.registry_request
@options.benchmark("The benchmark (default: the one .medperf.yml names).")
@options.mlcube_id("Your mlcube's id (default: `id` in .medperf.yml).")
@options.renamed("--mlcube", "--mlcube-id", "mlcube_id")
@click.option(
    "--model",
    type=click.Path(path_type=Path, exists=True),
    help="Test this MLCube directory instead of the submitted one.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Do not ask for confirmation. Without a terminal (as in CI) nothing is asked: "
    "the request is made once the test passes.",
)
@click.option(
    "--when-submitted",
    is_flag=True,
    help="Do nothing (exit 0, with a notice) until the mlcube is on the registry's default "
    "branch; a tag push uses this, since the registry verifies only merged submissions.",
)
@options.config
@options.container_run
def associate_command(
    registry: str | None,
    token: str | None,
    benchmark_id: str | None,
    mlcube_id: str | None,
    model: Path | None,
    yes: bool,
    when_submitted: bool,
    config: Path | None,
    timeout_s: float,
    memory: str,
    gpus: bool,
    quiet: bool,
) -> None:
    """Test against the benchmark, then request the association (a PR with the summary).

    The equivalent of `medperf mlcube associate`. Only the mlcube's owner requests its
    associations. Refused while a request for the pair is pending or approved; allowed again
    after a rejection (or a withdrawn request).
    """
    repo = repo_defaults(config)
    registry = repo.need_registry(registry)
    benchmark_id = repo.benchmark(benchmark_id)
    mlcube_id = mlcube_id or repo.mlcube_id
    if not benchmark_id or not mlcube_id:
        raise UsageError("--benchmark and --mlcube-id are needed (or a .medperf.yml with them)")
    token = registry_token(token)
    reg = open_registry(registry, token)
    if when_submitted and not reg.has_mlcube(mlcube_id):
        _waiting_for_submission(not_submitted(reg, mlcube_id))
        return
    opts = Options(
        model=model,
        model_id=mlcube_id,
        registry=reg,
        registry_token=token,
        benchmark=benchmark_id,
        # under Actions, in the folder the workflow uploads: a failure's log is kept
        output=options.RESULTS_FOLDER / f"associate-{benchmark_id}" if in_actions() else None,
        **options.container_settings(timeout_s, memory, gpus, quiet),
    )

    def run_test() -> dict[str, Any]:
        if model is None and not reg.has_mlcube(mlcube_id):
            raise RequestRefused(not_submitted(reg, mlcube_id))
        return run_workflow(opts).summary

    proposed, record = associate(reg, benchmark_id, mlcube_id, run_test, _confirmer(yes))
    if proposed is None:
        err("not requested")
        sys.exit(1)
    _requested(proposed, record)


def _confirmer(yes: bool) -> Callable[[dict[str, Any]], bool]:
    """Show the test's results; ask whether to request, unless told not to ask."""

    def confirm(summary: dict[str, Any]) -> bool:
        out(text_report(summary))
        if yes or not sys.stdin.isatty():
            return True
        return click.confirm("Request this association?", default=True, err=True)

    return confirm


def _waiting_for_submission(why: str) -> None:
    ci.annotate("notice", f"{why} (run `associate` again then)")
    ci.set_output("association-status", "WAITING-FOR-SUBMISSION")


def _requested(proposed: Proposed, record: dict[str, Any]) -> None:
    if proposed.created or proposed.file_written:
        out(f"association requested: {proposed.url}")
    else:
        out(f"unchanged: {proposed.url}")
        err(
            "note: your request for this pair is open already; the committee decides on it "
            "(to send new results instead, close it and run associate again)"
        )
    if not proposed.labelled:
        err(
            "note: your token may not label pull requests in the registry; the registry's "
            "workflow labels the request when it verifies it"
        )
    ci.set_output("association-pr-url", proposed.url)
    ci.set_output("pr-url", proposed.url)
    ci.set_output("association-status", "PENDING")
    if record:
        ci.set_json_output("summary-json", record["summary"])
