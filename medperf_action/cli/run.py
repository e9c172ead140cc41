"""`medperf-action run` (what the GitHub event calls for), `plan` (a strategy.matrix) and
the composite action's hidden entry, `action`."""

from __future__ import annotations

import os
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import err, out
from medperf_action.errors import UsageError
from medperf_action.usecases.dispatch import (
    Step,
    action_argv,
    action_inputs,
    batches,
    matrix_from_config,
    matrix_from_registry,
    plan_for_event,
)
from medperf_action.usecases.repo_config import find_config, load_repo_config
from medperf_action.usecases.site_plan import find_site_config, load_site_config, runner_labels


def invoke(root: click.Command, argv: list[str]) -> int:
    """Run one medperf-action command (`root` is the command line) in this process, on
    any thread; its exit code."""
    try:
        root.main(argv, prog_name="medperf-action", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 1
    return 0


def run_batch(root: click.Command, batch: list[Step], pairs: int) -> list[int]:
    """Run the steps of one batch, side by side when there are several; their codes."""
    if len(batch) == 1:
        with ci.group(batch[0].title):
            err("medperf-action " + shlex.join(batch[0].argv))
            return [invoke(root, batch[0].argv)]
    err(f"{len(batch)} tests side by side: {', '.join(step.title for step in batch)}")
    with ThreadPoolExecutor(max_workers=pairs) as pool:
        return list(pool.map(lambda step: invoke(root, step.argv), batch))


@click.command("run")
@click.option(
    "--mode",
    type=click.Choice(["model", "registry", "site"]),
    help=(
        "What this repository is (default: .medperf.yml, registry.yaml or .medperf-site.yml says)."
    ),
)
@click.option("--event-name", envvar="GITHUB_EVENT_NAME", help="Default: $GITHUB_EVENT_NAME.")
@click.option("--event-path", envvar="GITHUB_EVENT_PATH", help="Default: $GITHUB_EVENT_PATH.")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("medperf-results"),
    show_default=True,
    help="Where each benchmark's test results go.",
)
@click.option("--dry-run", is_flag=True, help="Print the commands; run nothing.")
@click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Test this many benchmark x model pairs side by side on this machine (each "
    "test runs its own steps side by side as `test --jobs` says).",
)
@options.renamed("--jobs", "--pairs", "pairs", type=click.IntRange(min=1))
@click.option(
    "--skip-tests",
    is_flag=True,
    help="Leave out validate and test (a release job after the matrix's test jobs).",
)
@click.option(
    "--only",
    type=click.Choice(["release", "associate"]),
    help="Of a tag push's steps, only the release (package, publish, submit) or only the "
    "association requests (two jobs: the one that signs and attests runs no containers).",
)
def run_command(
    mode: str | None,
    event_name: str | None,
    event_path: str | None,
    output: Path,
    dry_run: bool,
    pairs: int,
    skip_tests: bool,
    only: str | None,
) -> None:
    """Do what the GitHub event calls for (the action's default command).

    Model repository: push of a branch or a pull request → validate, test; push of a tag
    → also package, publish, submit (and associate when .medperf.yml says so);
    workflow_dispatch → the command in the event's inputs. Registry: pull_request →
    registry verify; workflow_run → registry report; pull_request_target (labeled) →
    registry on-label. The first failing step stops the rest.
    """
    if not event_name:
        raise UsageError(
            "no event: set GITHUB_EVENT_NAME (and GITHUB_EVENT_PATH), or pass --event-name"
        )
    plan = plan_for_event(
        event_name,
        event_path,
        Path.cwd(),
        mode=mode,
        output_root=output,
        skip_tests=skip_tests,
        only=only,
    )
    err(f"{plan.kind} repository, {plan.event} event: {len(plan.steps)} step(s)")
    if dry_run:
        for step in plan.steps:
            out("medperf-action " + shlex.join(step.argv))
        return
    root = click.get_current_context().find_root().command
    for batch in batches(plan.steps, pairs):
        codes = run_batch(root, batch, pairs)
        failed = [(step, code) for step, code in zip(batch, codes, strict=True) if code != 0]
        for step, code in failed:
            err(f"error: step '{step.title}' failed (exit code {code})")
        if failed:
            sys.exit(failed[0][1])


@click.command("plan")
@options.config
@click.option("--registry", help="Take the pairs from this registry's associations instead.")
@click.option("--benchmark", help="With --registry: only this benchmark.")
@click.option(
    "--status",
    type=options.STATUS_CHOICE,
    default="APPROVED",
    show_default=True,
    help="With --registry: which pairs.",
)
@click.option("--token", help="GitHub token for a GitHub registry (default: $GITHUB_TOKEN).")
def plan_command(
    config: Path | None,
    registry: str | None,
    benchmark: str | None,
    status: str,
    token: str | None,
) -> None:
    """Print a JSON matrix of benchmark x model pairs for `strategy.matrix`.

    From .medperf.yml (this model against each of its benchmarks), or from a registry's
    associations. Each pair then runs on its own runner (a self-hosted GPU runner too).
    In a data owner's repository (.medperf-site.yml): the site's runner labels, for
    `runs-on:` (output runs-on).
    """
    site = find_site_config(Path()) if not (registry or config or find_config()) else None
    if site is not None:
        labels = runner_labels(load_site_config(site))
        out(ci.json_line({"runs-on": labels}))
        ci.set_json_output("runs-on", labels)
        return
    if registry:
        pairs = matrix_from_registry(registry, benchmark, status.upper(), token)
    else:
        pairs = matrix_from_config(load_repo_config(config))
    matrix = {"include": pairs}
    out(ci.json_line(matrix))
    ci.set_json_output("matrix", matrix)


@click.command("action", hidden=True)
def action_command() -> None:
    """The composite action's entry: its inputs come as JSON in MPA_INPUTS."""
    inputs = action_inputs(os.environ.get("MPA_INPUTS", ""))
    # The tokens, for the commands that read them from the environment (never printed).
    tokens = (
        ("token", "GITHUB_TOKEN"),
        ("registry-token", "MEDPERF_REGISTRY_TOKEN"),
        ("team-token", "MEDPERF_TEAM_TOKEN"),
    )
    for name, variable in tokens:
        if inputs.get(name):
            os.environ[variable] = inputs[name]
    config_path = (inputs.get("config") or "").strip()
    config = load_repo_config(Path(config_path) if config_path else None)
    argv = action_argv(inputs, config)
    err("medperf-action " + shlex.join(argv))
    sys.exit(invoke(click.get_current_context().find_root().command, argv))
