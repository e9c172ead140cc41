"""The `medperf-action` command line.

Heavy modules (docker, github, jsonschema) are imported inside the commands that need them,
so that `--help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from medperf_action import __version__
from medperf_action.cli_common import F, clean_errors
from medperf_action.cli_listings import association, benchmark, mlcube
from medperf_action.cli_registry import registry

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


@main.command("test")
@click.option(
    "--model",
    "model",
    type=click.Path(path_type=Path, exists=True),
    help="The candidate model's MLCube directory (or give --model-id of a submitted one).",
)
@click.option("--benchmark", help="Benchmark id in the registry.")
@click.option(
    "--registry",
    help="The registry: a local checkout (PATH) or OWNER/REPO[@REF] read through the GitHub API.",
)
@click.option(
    "--model-id",
    help="The candidate's id in the registry: names it in the summary, and without --model "
    "the submitted mlcube is fetched from the registry.",
)
@click.option(
    "--data-preparator",
    type=click.Path(path_type=Path, exists=True),
    help="Use this data preparator MLCube directory instead of the benchmark's.",
)
@click.option(
    "--evaluator",
    type=click.Path(path_type=Path, exists=True),
    help="Use this metrics MLCube directory instead of the benchmark's.",
)
@click.option(
    "--reference-model",
    type=click.Path(path_type=Path, exists=True),
    help="Use this reference model MLCube directory instead of the benchmark's.",
)
@click.option(
    "--demo-dataset", help="Demo dataset tarball (URL or path) instead of the benchmark's."
)
@click.option("--demo-dataset-sha256", help="SHA-256 of --demo-dataset.")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write results.yaml, summary.json and the task logs here.",
)
@click.option("--no-build", is_flag=True, help="Use the images that are there; never build.")
@click.option("--no-cache", is_flag=True, help="Run every step, and store nothing.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Time limit per task, in seconds.",
)
@click.option(
    "--gpus", is_flag=True, help="Give GPUs to cubes whose platform.accelerator_count is above 0."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Steps run side by side when they do not depend on each other.",
)
@click.option("--quiet", is_flag=True, help="Do not echo the containers' logs.")
@clean_errors
def test_command(
    model: Path | None,
    benchmark: str | None,
    registry: str | None,
    model_id: str | None,
    data_preparator: Path | None,
    evaluator: Path | None,
    reference_model: Path | None,
    demo_dataset: str | None,
    demo_dataset_sha256: str | None,
    output: Path | None,
    no_build: bool,
    no_cache: bool,
    timeout_s: float,
    gpus: bool,
    jobs: int,
    quiet: bool,
) -> None:
    """Run the benchmark's workflow with MODEL in sandboxed containers.

    The equivalent of `medperf test run --benchmark ID --model mlcube.yaml`: the demo
    dataset is prepared, the candidate and the reference model infer on it, and the
    evaluator scores both. Exit codes: 0 the workflow ran, 1 a task failed, 2 usage.
    """
    from medperf_action import gha
    from medperf_action.report import markdown_report, text_report
    from medperf_action.workflow import Options, run_workflow

    def echo(line: str) -> None:
        click.echo(line, err=True)

    opts = Options(
        model=model,
        model_id=model_id,
        registry=registry,
        benchmark=benchmark,
        data_preparator=data_preparator,
        evaluator=evaluator,
        reference_model=reference_model,
        demo_dataset=demo_dataset,
        demo_dataset_sha256=demo_dataset_sha256,
        no_build=no_build,
        no_cache=no_cache,
        timeout_s=timeout_s,
        gpus=gpus,
        jobs=jobs,
        output=output,
        echo=None if quiet else echo,
        log=echo,
    )
    try:
        with gha.group("medperf-action test"):
            outcome = run_workflow(opts)
    except Exception as exc:
        gha.set_output("passed", "false")
        gha.add_summary(f"### MedPerf compatibility test failed\n\n```\n{exc}\n```\n")
        raise
    summary = outcome.summary
    click.echo(text_report(summary))
    gha.add_summary(markdown_report(summary))
    gha.set_output("passed", "true")
    gha.set_output("summary-json", json.dumps(summary, separators=(",", ":")))
    gha.set_output("metrics-json", json.dumps(summary["metrics"], separators=(",", ":")))


@main.command("package")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="The assets folder to write (default: assets/ beside mlcube.yaml). Replaced whole.",
)
@click.option(
    "--image-archive",
    is_flag=True,
    help="Also build the image and write image.tar.gz, a gzipped `docker save`.",
)
@click.option(
    "--no-build", is_flag=True, help="With --image-archive: use the local image; never build."
)
@click.option("--role", type=ROLE_CHOICE, help="The cube's MedPerf role (default: inferred).")
@clean_errors
def package_command(
    path: Path,
    output: Path | None,
    image_archive: bool,
    no_build: bool,
    role: str | None,
) -> None:
    """Validate the MLCube at PATH, then write its assets folder for publishing.

    The equivalent of MedPerf's `scripts/package-mlcube.py --mlcube DIR`: mlcube.yaml,
    parameters.yaml, additional_files.tar.gz (deterministic, no top-level folder),
    optionally image.tar.gz, manifest.json and checksums.sha256 (`sha256sum -c` format).
    The folder is written atomically: a failure leaves the previous one as it was.

    Exit codes: 0 written, 1 invalid MLCube or packaging failed, 2 usage error.
    """
    from medperf_action import gha
    from medperf_action.findings import render
    from medperf_action.package import (
        PackageError,
        cube_manifest,
        markdown_table,
        package_cube,
        table,
    )
    from medperf_action.validate import validate_path

    report = validate_path(cube_manifest(path), role=role)
    shown = render(report.findings, "github" if gha.in_actions() else "text")
    if shown:
        click.echo(shown, err=True)
    if report.errors:
        target = report.files[0] if report.files else str(path)
        raise PackageError(
            f"{target} is not a valid MLCube ({len(report.errors)} error(s), listed above); "
            "nothing was written"
        )

    def log(line: str) -> None:
        click.echo(line, err=True)

    result = package_cube(report, output, image_archive=image_archive, no_build=no_build, log=log)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"assets written to {result.directory}")
    click.echo(table(result))
    gha.add_summary(markdown_table(result))
    gha.set_output("assets-dir", str(result.directory))
    gha.set_output("assets-json", json.dumps(result.manifest, separators=(",", ":")))


@main.command("publish")
@click.option("--tag", required=True, help="The release's tag, e.g. v1.0.0.")
@click.option("--repo", help="OWNER/REPO (default: $GITHUB_REPOSITORY).")
@click.option(
    "--assets",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("mlcube/assets"),
    show_default=True,
    help="The folder `medperf-action package` wrote.",
)
@click.option("--clobber", is_flag=True, help="Replace published assets that differ.")
@click.option(
    "--push-image",
    "push_image",
    metavar="REF",
    help="Also push the image to this OCI reference and record its digest.",
)
@click.option("--token", help="GitHub token (default: $GITHUB_TOKEN). Never printed.")
@clean_errors
def publish_command(
    tag: str,
    repo: str | None,
    assets: Path,
    clobber: bool,
    push_image: str | None,
    token: str | None,
) -> None:
    """Publish the packaged assets as the assets of a GitHub release.

    The release for TAG is created if missing and reused if present. An asset whose
    SHA-256 matches checksums.sha256 is left as it is; one that differs is replaced only
    with --clobber, and without it nothing changes. Re-running after a failure finishes
    the job without duplicates.
    """
    import os

    from medperf_action import gha
    from medperf_action.errors import UsageError
    from medperf_action.publish import outputs_json, publish, write_record

    repo = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo or "/" not in repo:
        raise UsageError("--repo OWNER/REPO is needed (or $GITHUB_REPOSITORY)")
    image_digest = None
    if push_image:
        from medperf_action.publish import push_image as push

        image_digest = push(assets, push_image, log=lambda line: click.echo(line, err=True))
    release_url, published = publish(
        repo,
        tag,
        assets,
        clobber=clobber,
        token=token,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(f"release: {release_url}")
    for item in published:
        click.echo(f"{item.action:9}  {item.name}  {item.sha256}  {item.url}")
    if image_digest:
        click.echo(f"image: {image_digest}")
    record = outputs_json(release_url, published, image_digest, repository=repo, tag=tag)
    write_record(assets, record)
    gha.set_output("release-url", release_url)
    gha.set_output("assets-json", record)
    if image_digest:
        gha.set_output("image-digest", image_digest)


def _registry_option(func: F) -> F:
    return click.option(
        "--registry",
        help="The registry, OWNER/REPO[@REF] (default: from .medperf.yml).",
    )(func)


@main.command("submit")
@_registry_option
@click.option("--mlcube-id", help="The id to register (default: `id` in .medperf.yml).")
@click.option("--name", help="A human-readable name (default: `name` in .medperf.yml).")
@click.option("--role", type=ROLE_CHOICE, help="Default: the role package recorded.")
@click.option("--description", help="A short description for the registry.")
@click.option(
    "--assets",
    type=click.Path(path_type=Path, file_okay=False),
    help="The assets folder publish wrote release.json into (default: <mlcube>/assets).",
)
@click.option("--config", type=click.Path(path_type=Path), help="Default: .medperf.yml.")
@click.option(
    "--token",
    help="Token for the registry (default: $MEDPERF_REGISTRY_TOKEN, "
    "then $GITHUB_TOKEN). Never printed.",
)
@clean_errors
def submit_command(
    registry: str | None,
    mlcube_id: str | None,
    name: str | None,
    role: str | None,
    description: str | None,
    assets: Path | None,
    config: Path | None,
    token: str | None,
) -> None:
    """Propose the published MLCube to the registry as mlcubes/<id>.yaml (a PR).

    The equivalent of `medperf mlcube submit`. The PR comes from your fork of the
    registry, on the branch medperf/submit/<id>; running it again updates the same PR.
    """
    from medperf_action import gha
    from medperf_action.errors import UsageError, read_json
    from medperf_action.gitops import Submission, load_repo_config, registry_token, submit
    from medperf_action.registry import open_registry

    cfg = load_repo_config(config)
    registry = registry or cfg.get("registry")
    mlcube_id = mlcube_id or cfg.get("id")
    if not registry or not mlcube_id:
        raise UsageError("--registry and --mlcube-id are needed (or a .medperf.yml with them)")
    assets = assets or Path(cfg.get("mlcube", "mlcube")) / "assets"
    manifest = assets / "manifest.json"
    recorded = read_json(manifest, "the package's manifest") if manifest.is_file() else {}
    sub = Submission(
        mlcube_id=mlcube_id,
        name=name or cfg.get("name") or recorded.get("name") or mlcube_id,
        role=role or cfg.get("role") or recorded.get("role") or "model",
        description=description,
    )
    token = registry_token(token)
    proposed, _ = submit(open_registry(registry, token), sub, assets, token=token)
    verb = "opened" if proposed.created else "updated" if proposed.file_written else "unchanged"
    click.echo(f"{verb}: {proposed.url}")
    gha.set_output("pr-url", proposed.url)
    gha.set_output("submission-pr-url", proposed.url)


@main.command("associate")
@_registry_option
@click.option("--benchmark", "benchmark_id", help="Default: the first in .medperf.yml.")
@click.option("--mlcube", "mlcube_id", help="Your mlcube's id (default: from .medperf.yml).")
@click.option(
    "--model",
    type=click.Path(path_type=Path, exists=True),
    help="Test this MLCube directory instead of the submitted one.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--when-submitted",
    is_flag=True,
    help="Do nothing (exit 0, with a notice) until the mlcube is on the registry's default "
    "branch; a tag push uses this, since the registry verifies only merged submissions.",
)
@click.option("--config", type=click.Path(path_type=Path), help="Default: .medperf.yml.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Time limit per task, in seconds.",
)
@click.option("--gpus", is_flag=True, help="Give GPUs to cubes that declare accelerators.")
@click.option("--quiet", is_flag=True, help="Do not echo the containers' logs.")
@click.option(
    "--token",
    help="Token for the registry (default: $MEDPERF_REGISTRY_TOKEN, "
    "then $GITHUB_TOKEN). Never printed.",
)
@clean_errors
def associate_command(
    registry: str | None,
    benchmark_id: str | None,
    mlcube_id: str | None,
    model: Path | None,
    yes: bool,
    when_submitted: bool,
    config: Path | None,
    timeout_s: float,
    gpus: bool,
    quiet: bool,
    token: str | None,
) -> None:
    """Test against the benchmark, then request the association (a PR with the summary).

    The equivalent of `medperf mlcube associate`. Only the mlcube's owner requests its
    associations. Refused while a request for the pair is pending or approved; allowed again
    after a rejection (or a withdrawn request).
    """
    from medperf_action import gha
    from medperf_action.errors import UsageError
    from medperf_action.gitops import associate, load_repo_config, registry_token
    from medperf_action.registry import open_registry
    from medperf_action.report import text_report
    from medperf_action.workflow import Options, run_workflow

    cfg = load_repo_config(config)
    registry = registry or cfg.get("registry")
    benchmark_id = benchmark_id or next(iter(cfg.get("benchmarks") or []), None)
    mlcube_id = mlcube_id or cfg.get("id")
    if not registry or not benchmark_id or not mlcube_id:
        raise UsageError("--registry, --benchmark and --mlcube are needed (or .medperf.yml)")
    token = registry_token(token)
    reg = open_registry(registry, token)
    if when_submitted and not reg.has_mlcube(mlcube_id):
        note = (
            f"{mlcube_id} is not on the registry's default branch yet: request the association "
            "once the committee has merged the submission (run `associate` again then)"
        )
        click.echo(f"::notice title=medperf-action::{note}" if gha.in_actions() else note, err=True)
        gha.set_output("association-status", "WAITING-FOR-SUBMISSION")
        return

    def echo(line: str) -> None:
        click.echo(line, err=True)

    def run_test() -> dict[str, Any]:
        opts = Options(
            model=model,
            model_id=mlcube_id,
            registry=reg,
            registry_token=token,
            benchmark=benchmark_id,
            timeout_s=timeout_s,
            gpus=gpus,
            echo=None if quiet else echo,
            log=echo,
        )
        if model is None and not reg.has_mlcube(mlcube_id):
            raise UsageError(f"{mlcube_id} is not in the registry yet: submit it, or pass --model")
        return run_workflow(opts).summary

    def confirm(summary: dict[str, Any]) -> bool:
        click.echo(text_report(summary))
        if yes or not sys.stdin.isatty():
            return True
        return click.confirm("Request this association?", default=True, err=True)

    proposed, record = associate(reg, benchmark_id, mlcube_id, run_test, confirm)
    if proposed is None:
        click.echo("not requested", err=True)
        sys.exit(1)
    click.echo(f"association requested: {proposed.url}")
    gha.set_output("association-pr-url", proposed.url)
    if not proposed.labelled:
        click.echo(
            "note: your token may not label pull requests in the registry; the registry's "
            "workflow labels the request when it verifies it",
            err=True,
        )
    gha.set_output("pr-url", proposed.url)
    gha.set_output("association-status", "PENDING")
    if record:
        gha.set_output("summary-json", json.dumps(record["summary"], separators=(",", ":")))


for _group in (benchmark, mlcube, association, registry):
    main.add_command(_group)


@main.command("run")
@click.option(
    "--mode",
    type=click.Choice(["model", "registry"]),
    help="What this repository is (default: .medperf.yml or registry.yaml says).",
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
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Test this many benchmark x model pairs side by side on this machine.",
)
@click.option(
    "--skip-tests",
    is_flag=True,
    help="Leave out validate and test (a release job after the matrix's test jobs).",
)
@clean_errors
def run_command(
    mode: str | None,
    event_name: str | None,
    event_path: str | None,
    output: Path,
    dry_run: bool,
    jobs: int,
    skip_tests: bool,
) -> None:
    """Do what the GitHub event calls for (the action's default command).

    Model repository: push of a branch or a pull request → validate, test; push of a tag
    → also package, publish, submit (and associate when .medperf.yml says so);
    workflow_dispatch → the command in the event's inputs. Registry: pull_request →
    registry verify; workflow_run → registry report; pull_request_target (labeled) →
    registry on-label. The first failing step stops the rest.
    """
    import shlex

    from medperf_action import gha
    from medperf_action.dispatch import batches, plan_for_event
    from medperf_action.errors import UsageError

    if not event_name:
        raise UsageError(
            "no event: set GITHUB_EVENT_NAME (and GITHUB_EVENT_PATH), or pass --event-name"
        )
    plan = plan_for_event(
        event_name, event_path, Path.cwd(), mode=mode, output_root=output, skip_tests=skip_tests
    )
    click.echo(f"{plan.kind} repository, {plan.event} event: {len(plan.steps)} step(s)", err=True)
    if dry_run:
        for step in plan.steps:
            click.echo("medperf-action " + shlex.join(step.argv))
        return
    for batch in batches(plan.steps, jobs):
        if len(batch) == 1:
            with gha.group(batch[0].title):
                click.echo("medperf-action " + shlex.join(batch[0].argv), err=True)
                codes = [_invoke(batch[0].argv)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            titles = ", ".join(step.title for step in batch)
            click.echo(f"{len(batch)} tests side by side: {titles}", err=True)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                codes = list(pool.map(lambda step: _invoke(step.argv), batch))
        failed = [(step, code) for step, code in zip(batch, codes, strict=True) if code != 0]
        for step, code in failed:
            click.echo(f"error: step '{step.title}' failed (exit code {code})", err=True)
        if failed:
            sys.exit(failed[0][1])


def _invoke(argv: list[str]) -> int:
    """Run one medperf-action command in this process; its exit code."""
    try:
        main.main(argv, prog_name="medperf-action", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 1
    return 0


@main.command("plan")
@click.option("--config", type=click.Path(path_type=Path), help="Default: .medperf.yml.")
@click.option("--registry", help="Take the pairs from this registry's associations instead.")
@click.option("--benchmark", help="With --registry: only this benchmark.")
@click.option(
    "--status",
    type=click.Choice(["APPROVED", "PENDING", "REJECTED"]),
    default="APPROVED",
    show_default=True,
    help="With --registry: which pairs.",
)
@click.option("--token", help="GitHub token for a GitHub registry (default: $GITHUB_TOKEN).")
@clean_errors
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
    """
    from medperf_action import gha
    from medperf_action.dispatch import matrix_from_config, matrix_from_registry
    from medperf_action.gitops import load_repo_config

    if registry:
        pairs = matrix_from_registry(registry, benchmark, status, token)
    else:
        pairs = matrix_from_config(load_repo_config(config))
    matrix = json.dumps({"include": pairs}, separators=(",", ":"))
    click.echo(matrix)
    gha.set_output("matrix", matrix)


@main.command("action", hidden=True)
@clean_errors
def action_command() -> None:
    """The composite action's entry: its inputs come as JSON in MPA_INPUTS."""
    import os
    import shlex

    from medperf_action.dispatch import action_argv, action_inputs
    from medperf_action.gitops import load_repo_config

    inputs = action_inputs(os.environ.get("MPA_INPUTS", ""))
    # The tokens, for the commands that read them from the environment (never printed).
    for name, variable in (("token", "GITHUB_TOKEN"), ("registry-token", "MEDPERF_REGISTRY_TOKEN")):
        if inputs.get(name):
            os.environ[variable] = inputs[name]
    config_path = (inputs.get("config") or "").strip()
    config = load_repo_config(Path(config_path) if config_path else None)
    argv = action_argv(inputs, config)
    click.echo("medperf-action " + shlex.join(argv), err=True)
    sys.exit(_invoke(argv))
