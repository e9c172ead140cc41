"""`medperf-action test`: the compatibility test (MedPerf's `medperf test run`)."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import err, out
from medperf_action.domain.registry.reader import Registry
from medperf_action.errors import UsageError
from medperf_action.settings import in_actions
from medperf_action.usecases.compat_test.engine import run_workflow
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import verify_entry_signature
from medperf_action.usecases.compat_test.report import (
    failure_markdown,
    markdown_report,
    text_report,
)
from medperf_action.usecases.registries import open_registry
from medperf_action.usecases.repo_config import repo_defaults

EXISTING_DIR = click.Path(path_type=Path, exists=True)


@click.command("test")
@click.option(
    "--model",
    "model",
    type=EXISTING_DIR,
    help="The candidate model's MLCube directory (default: the MLCube of .medperf.yml, "
    "unless --mlcube-id names a submitted one).",
)
@options.benchmark("Benchmark id in the registry (default: the one .medperf.yml names).")
@options.registry
@options.read_token
@options.mlcube_id(
    "The candidate's id in the registry (default: .medperf.yml's id): names it in the "
    "summary, and without --model the submitted mlcube is fetched from the registry."
)
@options.renamed("--model-id", "--mlcube-id", "mlcube_id")
@options.config
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
    help="Use this reference model MLCube directory instead of the benchmark's (without a "
    "benchmark and without it, the candidate is scored alone).",
)
@click.option(
    "--demo-dataset", help="Demo dataset tarball (URL or path) instead of the benchmark's."
)
@click.option("--demo-dataset-sha256", help="SHA-256 of --demo-dataset.")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write results.yaml, summary.json, the task logs, both models' predictions, each "
    "task's docker run command and the result statement (medperf-result.intoto.json) "
    "here (under GitHub Actions, default "
    "medperf-results/BENCHMARK, the folder the reusable workflow uploads).",
)
@click.option("--no-build", is_flag=True, help="Use the images that are there; never build.")
@click.option("--no-cache", is_flag=True, help="Run every step, and store nothing.")
@options.verify_signature(
    "the candidate: --model's assets folder, or the registry entry of --mlcube-id"
)
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
    benchmark_id: str | None,
    registry: str | None,
    token: str | None,
    mlcube_id: str | None,
    config: Path | None,
    data_preparator: Path | None,
    evaluator: Path | None,
    reference_model: Path | None,
    demo_dataset: str | None,
    demo_dataset_sha256: str | None,
    output: Path | None,
    no_build: bool,
    no_cache: bool,
    verify_signature: Path | None,
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
    repo = repo_defaults(config)
    if model is None and mlcube_id is None and repo.mlcube_dir is not None:
        model = _repository_mlcube(repo.mlcube_dir)
    benchmark = repo.benchmark(benchmark_id)
    if output is None and in_actions():  # a failure's log, inside the uploaded folder
        output = options.RESULTS_FOLDER / (benchmark or "test")
    opts = Options(
        model=model,
        model_id=mlcube_id or repo.mlcube_id,
        registry=repo.registry(registry),
        registry_token=token,
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
    if verify_signature is not None:
        signer = _verify_candidate(opts, verify_signature)
        err(f"the candidate's signature is valid, signed by {signer}")
    _run_and_report(opts)


def _run_and_report(opts: Options) -> None:
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


def _verify_candidate(opts: Options, public_key: Path) -> str:
    """--verify-signature: the candidate's signature, before anything runs: its local
    assets folder (--model), else its registry entry's published assets."""
    if opts.model is not None:
        # What runs is the folder itself (its manifest, workspace and image), not the
        # signed assets beside it: checking those would vouch for something else.
        raise UsageError(
            "--verify-signature checks a published MLCube's signature before it runs: give "
            "--mlcube-id (without --model); for a local assets folder, use "
            "`validate --verify-signature`"
        )
    if opts.model_id is None or opts.registry is None:
        raise UsageError("--verify-signature checks --model's assets, or --mlcube-id's")
    registry = opts.registry
    opened = (
        registry if isinstance(registry, Registry) else open_registry(registry, opts.registry_token)
    )
    entry = opened.mlcube(opts.model_id)
    if "path" in entry and opened.root is not None:
        raise UsageError(
            f"mlcube {opts.model_id} is a local path in this registry: what runs is that "
            "folder, not signed assets; --verify-signature checks a published entry"
        )
    return verify_entry_signature(entry, public_key, opts)


def _repository_mlcube(folder: Path) -> Path:
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder (the MLCube .medperf.yml names); pass --model")
    return folder
