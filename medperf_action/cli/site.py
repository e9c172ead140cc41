"""The data owner's commands: `dataset prepare|register|associate`, `benchmark run`,
`result submit|ls` (MedPerf's `medperf dataset`, `benchmark run`, `result`).

Inside a site repository every command takes its defaults from `.medperf-site.yml`: the
registry, the dataset's id and name, the benchmarks. The raw data's paths come from
options or the runner's environment, never from the repository. No container's output is
ever shown: it stays in the run's folder in the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import err, out
from medperf_action.errors import CubeFailed, RequestRefused, UsageError
from medperf_action.settings import (
    data_paths,
    password_from_env,
    registry_token,
)
from medperf_action.text import table
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.registries import GitHubSnapshot, open_registry
from medperf_action.usecases.site import dataset as datasets
from medperf_action.usecases.site import results
from medperf_action.usecases.site.config import SiteDefaults, site_defaults
from medperf_action.usecases.site.runs import Site
from medperf_action.usecases.site.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def site_config(func: F) -> F:
    """--config: the site's settings file."""
    return click.option(
        "--config",
        type=click.Path(path_type=Path),
        help="The site's settings (default: the .medperf-site.yml of the repository the "
        "current folder is in).",
    )(func)


def site_registry(func: F) -> F:
    """--registry, defaulting to .medperf-site.yml's."""
    return click.option(
        "--registry",
        metavar="PATH|OWNER/REPO[@REF]",
        help="The registry (default: $MEDPERF_REGISTRY, else .medperf-site.yml's).",
    )(func)


def site_options(func: F) -> F:
    """--registry, --token, --dataset and --config: which registry, dataset and site."""
    func = site_config(func)
    func = click.option(
        "--dataset",
        "dataset_id",
        metavar="ID",
        help="The dataset's id (default: .medperf-site.yml's).",
    )(func)
    return site_registry(options.request_token(func))


def _site(
    config: Path | None,
    registry: str | None,
    token: str | None,
    dataset_id: str | None,
    run: dict[str, Any] | None = None,
) -> tuple[Site, SiteDefaults]:
    defaults = site_defaults(config)
    opened = open_registry(defaults.registry(registry), registry_token(token), snapshot=True)
    commit = opened.source.commit if isinstance(opened.source, GitHubSnapshot) else None
    opts = Options(
        registry=opened,
        log=err,
        echo=None,
        private=True,
        progress=ci.TerminalProgress(),
        **(run or {}),
    )
    site = Site(opened, Store.open(), defaults.dataset_id(dataset_id), opts, commit)
    return site, defaults


def _limits(timeout_s: float, memory: str, gpus: bool) -> dict[str, Any]:
    return {"timeout_s": timeout_s, "memory": memory, "gpus": gpus}


def _proposed(kind: str, url: str, created: bool, written: bool) -> None:
    state = "opened" if created else ("updated" if written else "unchanged")
    out(f"{state}: {url}")
    ci.set_output("pr-url", url)
    err(f"{kind}: {state}")


# ---------------------------------------------------------------------------------------
# dataset


@click.group("dataset")
def dataset() -> None:
    """A site's dataset (MedPerf's `medperf dataset`)."""


@dataset.command("prepare")
@options.benchmark("The benchmark whose data preparator runs (default: .medperf-site.yml's).")
@click.option(
    "--data-path",
    type=click.Path(path_type=Path),
    help="The raw data (default: $MEDPERF_DATA_PATH).",
)
@click.option(
    "--labels-path",
    type=click.Path(path_type=Path),
    help="The raw labels (default: $MEDPERF_LABELS_PATH).",
)
@click.option("--name", help="The dataset's name (default: .medperf-site.yml's).")
@site_options
@options.container_limits
def prepare_command(
    benchmark_id: str | None,
    data_path: Path | None,
    labels_path: Path | None,
    name: str | None,
    registry: str | None,
    token: str | None,
    dataset_id: str | None,
    config: Path | None,
    timeout_s: float,
    memory: str,
    gpus: bool,
) -> None:
    """Prepare the raw data with the benchmark's data preparator, into the site's store.

    The equivalent of `medperf dataset create`: prepare, sanity_check and statistics run
    in the sandbox on the raw data (read-only); the prepared data, its SHA-256 tree hash
    and the statistics are kept in the store ($MEDPERF_ACTION_STORE). The statistics are
    printed for review: `dataset register` sends them, and the hashes, to the registry.
    Exit codes: 0 prepared, 1 invalid input, 2 usage, 3 a cube failed, 4 infrastructure.
    """
    data, labels = data_paths(data_path, labels_path)
    site, defaults = _site(config, registry, token, dataset_id, _limits(timeout_s, memory, gpus))
    benchmark = defaults.benchmark(benchmark_id)
    info = defaults.site_dataset(site.dataset_id, name)
    with ci.group(f"medperf-action dataset prepare {site.dataset_id}"):
        done = datasets.prepare(site, benchmark, info, data, labels)
    headers, rows = datasets.statistics_table(done.entry)
    out(f"Dataset {site.dataset_id} prepared (run {done.run_id}), in {done.folder}\n")
    out(table(headers, rows))
    ci.add_summary(datasets.statistics_markdown(done.entry))
    ci.set_output("run-id", done.run_id)
    ci.set_json_output("dataset-json", done.entry)


@dataset.command("register")
@site_options
def register_command(
    registry: str | None, token: str | None, dataset_id: str | None, config: Path | None
) -> None:
    """Propose the prepared dataset to the registry as datasets/<id>.yaml (a PR).

    The equivalent of `medperf dataset submit`: the entry holds the dataset's name, the
    preparator's id, the prepared data's and labels' SHA-256 tree hashes and the
    statistics, never a byte of the data. Re-running updates the same PR.
    """
    site, _ = _site(config, registry, token, dataset_id)
    proposed, _entry = datasets.register(site)
    _proposed("dataset register", proposed.url, proposed.created, proposed.file_written)


@dataset.command("associate")
@options.benchmark("The benchmark (default: .medperf-site.yml's).")
@site_options
@options.container_limits
def associate_command(
    benchmark_id: str | None,
    registry: str | None,
    token: str | None,
    dataset_id: str | None,
    config: Path | None,
    timeout_s: float,
    memory: str,
    gpus: bool,
) -> None:
    """Run the benchmark's reference model on the prepared data, then request the
    dataset's association (a PR adding dataset-associations/<benchmark>/<id>.yaml).

    The equivalent of `medperf dataset associate`. The request holds the run's metrics
    and the hashes of what ran; the committee approves it by label.
    """
    site, defaults = _site(config, registry, token, dataset_id, _limits(timeout_s, memory, gpus))
    benchmark = defaults.benchmark(benchmark_id)
    with ci.group(f"medperf-action dataset associate {site.dataset_id} {benchmark}"):
        proposed, record, run_id = datasets.associate(site, benchmark)
    metrics = record["compatibility"]["metrics"]
    out(table(["metric", "value"], [[k, datasets.plain(v)] for k, v in metrics.items()]))
    ci.add_summary(datasets.association_markdown(record, run_id))
    ci.set_output("run-id", run_id)
    _proposed("dataset associate", proposed.url, proposed.created, proposed.file_written)


# ---------------------------------------------------------------------------------------
# benchmark run (a command of the `benchmark` group)


@click.command("run")
@options.benchmark("The benchmark (default: each one .medperf-site.yml names).")
@click.option("--all", "everything", is_flag=True, help="Also the models that have a result.")
@site_options
@options.container_limits
def benchmark_run(
    benchmark_id: str | None,
    everything: bool,
    registry: str | None,
    token: str | None,
    dataset_id: str | None,
    config: Path | None,
    timeout_s: float,
    memory: str,
    gpus: bool,
) -> None:
    """Run the benchmark's approved models on the prepared data; release nothing.

    The equivalent of `medperf benchmark run`: every model with an APPROVED association
    to the benchmark, and its reference model, that has no result for this dataset in the
    registry yet (--all: every one), each step cached; without --benchmark, on each
    benchmark of .medperf-site.yml (one the dataset is not approved for yet is skipped,
    saying so). Each run is kept in the store
    with its result file, for `result submit RUN_ID`. Exit codes: 0 every run passed,
    3 a model failed (the others still ran), 5 the dataset is not approved for it.
    """
    site, defaults = _site(config, registry, token, dataset_id, _limits(timeout_s, memory, gpus))
    records: list[dict[str, Any]] = []
    benchmarks = defaults.benchmark_list(benchmark_id)
    for benchmark in benchmarks:
        try:
            planned = results.plan(site, benchmark, everything=everything)
        except RequestRefused as exc:
            if len(benchmarks) == 1:
                raise
            err(f"{benchmark}: skipped: {exc}")  # the others still run (a schedule's case)
            continue
        names = ", ".join(planned.models) or "-"
        err(f"{benchmark}: {len(planned.models)} model(s) to run: {names}")
        with ci.group(f"medperf-action benchmark run {benchmark}"):
            done = results.run_models(site, planned)
        ci.add_summary(results.runs_markdown(benchmark, site.dataset_id, done))
        records += done
    out(results.runs_table(records) if records else "No model to run.")
    keys = ("benchmark", "model", "run_id", "status", "metrics")
    ci.set_json_output("runs-json", [{k: r.get(k) for k in keys} for r in records])
    failed = [r for r in records if r["status"] != "passed"]
    if failed:
        raise CubeFailed(
            f"{len(failed)} of {len(records)} runs failed: "
            + ", ".join(f"{r['model']} (run {r['run_id']})" for r in failed)
            + f"; their logs stay on this machine, in {site.store.runs_dir(site.dataset_id)}"
        )


# ---------------------------------------------------------------------------------------
# result


@click.group("result")
def result() -> None:
    """A site's results (MedPerf's `medperf result`)."""


@result.command("submit")
@click.argument("run_id")
@site_registry
@options.request_token
@site_config
def submit_command(
    run_id: str, registry: str | None, token: str | None, config: Path | None
) -> None:
    """Release the result of the run RUN_ID: a PR adding results/<b>/<model>/<dataset>.yaml.

    The equivalent of `medperf result submit`: only the metrics, the hashes and versions
    of what ran, and the timings cross to GitHub, once the data owner has reviewed them.
    When registry.yaml seals results (`results: {sealed_to: KEY}`), the metrics cross
    sealed to the committee's key: only its holder reads them (`result ls --key`).
    """
    opened = open_registry(
        site_defaults(config).registry(registry), registry_token(token), snapshot=True
    )
    proposed, record = results.submit(opened, Store.open(), run_id)
    if "sealed" in record:
        err(f"the metrics are sealed to the committee's key ({record['sealed']['recipient']})")
    if proposed is None:
        out(f"released already: {record['benchmark']}/{record['model']}/{record['dataset']}")
        return
    _proposed("result submit", proposed.url, proposed.created, proposed.file_written)


@result.command("ls")
@click.option("--benchmark", metavar="ID", help="Only this benchmark's results.")
@click.option(
    "--model", "--mlcube-id", "mlcube_id", metavar="ID", help="Only this model's results."
)
@click.option("--dataset", "dataset_id", metavar="ID", help="Only this dataset's results.")
@click.option("--local", is_flag=True, help="Also this site's own runs, released or not.")
@site_registry
@options.read_token
@site_config
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="PEM",
    help="The committee's RSA private key (PEM): opens the results sealed to it (without "
    "it, sealed metrics read `sealed`).",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="The environment variable that holds the --key file's password, if it is encrypted "
    "(never prompted for, never printed).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def ls_command(
    benchmark: str | None,
    mlcube_id: str | None,
    dataset_id: str | None,
    local: bool,
    registry: str | None,
    token: str | None,
    config: Path | None,
    key_path: Path | None,
    password_env: str | None,
    fmt: str,
) -> None:
    """List the registry's results (and with --local, this site's runs).

    The equivalent of `medperf result ls`. When registry.yaml seals results to the
    committee's key, `--key` opens them for the holder of its private key (the
    results-json output keeps them sealed, as the registry holds them).
    """
    opened = open_registry(
        site_defaults(config).registry(registry), registry_token(token), snapshot=True
    )
    found = as_held = results.registry_results(opened, benchmark, mlcube_id, dataset_id)
    if key_path is not None:
        password = password_from_env("--password-env", password_env)
        try:
            pem = key_path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--key {key_path}: cannot be read ({exc.strerror})") from None
        found, notes = results.open_results(found, pem, password)
        for note in notes:
            err(note)
    elif password_env is not None:
        raise UsageError("--password-env is the password of a --key: give the key too")
    ci.set_json_output("results-json", as_held)
    runs = []
    if local:
        released = {r["run_id"] for r in found}
        runs = results.local_runs(Store.open(), released, benchmark, mlcube_id, dataset_id)
    if fmt == "json":
        document: dict[str, Any] = {"registry": opened.description, "results": found}
        if local:
            document["local"] = runs
        out(json.dumps(document, indent=2))
        return
    out(results.results_table(found) if found else f"No results in {opened.description}.")
    if local:
        out("\nThis site's runs:\n" + (results.runs_table(runs) if runs else "none"))
