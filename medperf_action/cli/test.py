"""`medperf-action test`: the compatibility test (MedPerf's `medperf test run`)."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import out
from medperf_action.settings import in_actions
from medperf_action.usecases.compat_test.engine import run_workflow
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.report import (
    failure_markdown,
    markdown_report,
    text_report,
)

EXISTING_DIR = click.Path(path_type=Path, exists=True)
#: Where `test` writes under GitHub Actions without --output (as `run` does).
RESULTS_FOLDER = Path("medperf-results")


@click.command("test")
@click.option(
    "--model",
    "model",
    type=EXISTING_DIR,
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
    type=EXISTING_DIR,
    help="Use this data preparator MLCube directory instead of the benchmark's.",
)
@click.option(
    "--evaluator",
    type=EXISTING_DIR,
    help="Use this metrics MLCube directory instead of the benchmark's.",
)
@click.option(
    "--reference-model",
    type=EXISTING_DIR,
    help="Use this reference model MLCube directory instead of the benchmark's.",
)
@click.option(
    "--demo-dataset", help="Demo dataset tarball (URL or path) instead of the benchmark's."
)
@click.option("--demo-dataset-sha256", help="SHA-256 of --demo-dataset.")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write results.yaml, summary.json, the task logs, both models' predictions and each "
    "task's docker run command here (under GitHub Actions, default "
    "medperf-results/BENCHMARK, the folder the reusable workflow uploads).",
)
@click.option("--no-build", is_flag=True, help="Use the images that are there; never build.")
@click.option("--no-cache", is_flag=True, help="Run every step, and store nothing.")
@options.container_run
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Steps run side by side when they do not depend on each other.",
)
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
    memory: str,
    gpus: bool,
    quiet: bool,
    jobs: int,
) -> None:
    """Run the benchmark's workflow with MODEL in sandboxed containers.

    The equivalent of `medperf test run --benchmark ID --model mlcube.yaml`: the demo
    dataset is prepared, the candidate and the reference model infer on it, and the
    evaluator scores both. Exit codes: 0 the workflow ran, 1 invalid input, 3 a cube
    failed, 4 Docker or the network failed, 2 usage.
    """
    if output is None and in_actions():  # a failure's log, inside the uploaded folder
        output = RESULTS_FOLDER / (benchmark or "test")
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
        jobs=jobs,
        output=output,
        **options.container_settings(timeout_s, memory, gpus, quiet),
    )
    try:
        with ci.group("medperf-action test"):
            outcome = run_workflow(opts)
    except Exception as exc:
        ci.set_output("passed", "false")
        ci.add_summary(failure_markdown(exc))
        raise
    summary = outcome.summary
    out(text_report(summary))
    ci.add_summary(markdown_report(summary))
    ci.set_output("passed", "true")
    ci.set_json_output("summary-json", summary)
    ci.set_json_output("metrics-json", summary["metrics"])
