"""`medperf-action registry ...`: the commands the registry repository's workflows run.

* `verify --pr N`   under `pull_request` (read-only token, no secrets): checks the PR and
  re-runs the compatibility test; writes report.json and report.md for the artifact.
* `report --pr N --report DIR`   under `workflow_run` (privileged, never runs PR code):
  posts the one sticky comment and the verified / verification-failed label.
* `on-label --event PATH`   under `pull_request_target` for `labeled`: carries out a
  committee member's approved / rejected label, or removes it saying why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli.output import err, out
from medperf_action.settings import github_token
from medperf_action.usecases.leaderboard import leaderboard
from medperf_action.usecases.provenance import STATEMENT_FILE, keep_statement
from medperf_action.usecases.registry.artifact import write_report
from medperf_action.usecases.registry.context import check_repo_name, open_context
from medperf_action.usecases.registry.on_label import on_label
from medperf_action.usecases.registry.report import report
from medperf_action.usecases.registry.verify import verify


@click.group("registry")
def registry() -> None:
    """Commands for the registry repository's own workflows."""


@registry.command("verify")
@click.option("--pr", type=click.IntRange(min=1), required=True, help="The pull request number.")
@click.option("--registry", "name", help="The registry, OWNER/REPO (default: $GITHUB_REPOSITORY).")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("verify-report"),
    show_default=True,
    help=(
        "Where to write report.json, report.md and, when the re-run produced metrics, "
        "medperf-result.intoto.json (the artifact to upload)."
    ),
)
@click.option("--token", help="GitHub token (default: $GITHUB_TOKEN); read access is enough.")
def verify_command(pr: int, name: str | None, report_dir: Path, token: str | None) -> None:
    """Check registry pull request N without trusting anything in it.

    Every changed file is read at the PR's head and checked against its schema and the
    registry's rules; a submission's assets are downloaded and their SHA-256 checked; an
    association request's compatibility test is run again (in the sandboxed containers)
    and every reported metric compared with the re-run's, within the registry's tolerance.
    Nothing is written to GitHub.

    Exit codes: 0 verified, 1 a check failed (a re-run that fails is a failed check), 2
    usage error, 4 GitHub failed.
    """
    name = check_repo_name(name)
    token = github_token(token)
    with ci.group(f"medperf-action registry verify #{pr}"):
        result = verify(pr, name, token, log=err, progress=ci.TerminalProgress())
    doc = result.as_dict()
    markdown = write_report(doc, report_dir, result.config)
    stated = keep_statement(report_dir, result.statement)
    out(markdown)
    ci.add_summary(markdown)
    ci.set_output("passed", "true" if doc["passed"] else "false")
    ci.set_output("report-dir", str(report_dir))
    err(f"report written to {report_dir}/report.json and report.md")
    if stated is not None:
        err(f"the re-run's result statement: {report_dir}/{STATEMENT_FILE} (sha256 {stated})")
    sys.exit(0 if doc["passed"] else 1)


@registry.command("report")
@click.option("--pr", type=click.IntRange(min=1), help="The pull request number (from the event).")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The downloaded artifact of `registry verify` (untrusted data).",
)
@click.option(
    "--event",
    "event_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The workflow_run event ($GITHUB_EVENT_PATH): gives the PR and the verified commit.",
)
@click.option("--registry", "name", help="The registry, OWNER/REPO (default: $GITHUB_REPOSITORY).")
@click.option("--token", help="GitHub token (default: $GITHUB_TOKEN). Never printed.")
def report_command(
    pr: int | None,
    report_dir: Path,
    event_path: Path | None,
    name: str | None,
    token: str | None,
) -> None:
    """Post the verification of PR N: one sticky comment, and a label.

    The report in DIR is untrusted: it must match schemas/verify-report.schema.json, name
    this PR and its current head; the files the PR changes are checked again here. The
    comment shows the re-run's metrics next to the reported ones; the PR gets the verified
    label or the verification-failed one. When the registry's approval policy allows
    (same-owner, allowlist), a verified request is approved at once.

    Exit codes: 0 reported (whatever the verdict) or nothing to do, 1 the report was
    refused (the PR is marked failed) or an error, 2 usage error.
    """
    event = ci.load_event(event_path) if event_path is not None else None
    if name is None and event is not None:
        name = (event.get("repository") or {}).get("full_name")
    name = check_repo_name(name)
    ctx = open_context(name, github_token(token))
    result = report(ctx, report_dir, pr, event)
    out(result.message)
    for action in result.actions:
        out(f"  {action}")
    ci.set_output("passed", "true" if result.passed else "false")
    ci.set_output("statement-sha256", result.statement_sha256 or "")
    ci.add_summary(f"medperf-action registry report: {result.message}")


@registry.command("on-label")
@click.option(
    "--event",
    "event_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The pull_request_target `labeled` event ($GITHUB_EVENT_PATH).",
)
@click.option("--token", help="GitHub token (default: $GITHUB_TOKEN). Never printed.")
def on_label_command(event_path: Path, token: str | None) -> None:
    """Carry out an approved / rejected label on an association request.

    The labeller (the event's sender) must be on the committee (registry.yaml: users, or
    members of its teams) and must not be the PR's author; an approval needs the PR's
    current head verified. Approved: the PR is merged at that head and the status APPROVED,
    approved_by and approved_at are committed on the default branch. Rejected: the PR is
    closed with a comment. Any other label is ignored. A label that may not stand is
    removed with a comment saying why (exit 0: the event was handled).

    Exit codes: 0 handled (carried out, refused or ignored), 1 error, 2 usage error.
    """
    result = on_label(ci.load_event(event_path), github_token(token))
    out(f"{result.outcome}: {result.message}")
    for action in result.actions:
        out(f"  {action}")
    ci.set_output("outcome", result.outcome)
    ci.add_summary(f"medperf-action registry on-label: {result.outcome}: {result.message}")


@registry.command("leaderboard")
@click.option(
    "--registry",
    "location",
    default=".",
    show_default=True,
    help="The registry: a local checkout, or OWNER/REPO[@REF] on GitHub.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=True, file_okay=False),
    default=Path("leaderboard"),
    show_default=True,
    help="Where to write README.md (the index), and BENCHMARK.md and BENCHMARK.svg per "
    "benchmark. The folder is replaced as a whole.",
)
@click.option(
    "--site",
    type=click.Path(path_type=Path, dir_okay=True, file_okay=False),
    help="Also write the static site for GitHub Pages here (index.html, BENCHMARK.html).",
)
@click.option("--token", help="GitHub token for a GitHub registry (default: $GITHUB_TOKEN).")
def leaderboard_command(location: str, output: Path, site: Path | None, token: str | None) -> None:
    """Render the leaderboard from the registry's results/.

    One table per benchmark: a row per model, and for each metric (the benchmark's
    `metrics`, else all) a column per dataset and the mean over the datasets weighted by
    their number of cases; rows by the first metric's weighted mean, highest first. Each
    benchmark also gets an SVG chart. The same registry always gives the same bytes.

    Exit codes: 0 written, 1 a registry file is invalid, 2 usage error, 4 GitHub failed.
    """
    written = leaderboard(location, output, site, token, log=err)
    index = written.files["README.md"]
    out(index.rstrip("\n"))
    ci.add_summary(index)
