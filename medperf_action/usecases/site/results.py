"""A site's results: `benchmark run`, `result submit`, `result ls`.

* `benchmark run` runs, on the prepared data, every model with an APPROVED association to
  the benchmark, and the benchmark's reference model, that has no result for this dataset
  in the registry yet (all of them with `everything`), each in a run of its own in the
  store, with its result file ready. Nothing is released.
* `result submit RUN_ID` releases one run: a PR adding `results/<b>/<m>/<d>.yaml`.
* `result ls`: the registry's results, and the runs in this site's store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.files.atomic import write_text
from medperf_action.adapters.github.client import whoami
from medperf_action.adapters.github.proposals import Proposal, Proposed, propose
from medperf_action.domain.registry.layout import (
    dump_yaml,
    result_branch,
    result_marker,
    result_path,
)
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.site_files import (
    RunFacts,
    check,
    models_to_run,
    result_record,
)
from medperf_action.errors import CubeFailed, RequestRefused, UsageError
from medperf_action.text import md_table, now_iso, table
from medperf_action.usecases.registries import require_github
from medperf_action.usecases.site.dataset import plain
from medperf_action.usecases.site.runs import Run, Site, score
from medperf_action.usecases.site.store import Prepared, Store, read_yaml


def approved_models(registry: Registry, benchmark_id: str) -> list[str]:
    """The models whose association with the benchmark is APPROVED on the default branch."""
    return [
        model
        for model in registry.associated_models(benchmark_id)
        if (found := registry.association(benchmark_id, model)) is not None
        and found["status"] == "APPROVED"
    ]


def _checked_dataset(site: Site, benchmark_id: str, prepared: Prepared) -> dict[str, Any]:
    """The dataset's entry, when the prepared data is the registered one and its
    association with the benchmark is approved (MedPerf's rule before a benchmark run)."""
    entry = site.registry.find_dataset(site.dataset_id)
    if entry is None:
        raise RequestRefused(f"dataset {site.dataset_id} is not registered in the registry yet")
    if entry["prepared"]["data_sha256"] != prepared.data_sha256:
        raise RequestRefused(
            f"the data prepared on this machine is not the data registered as {site.dataset_id}"
        )
    association = site.registry.dataset_association(benchmark_id, site.dataset_id)
    if association is None or association["status"] != "APPROVED":
        status = association["status"] if association else "none on its default branch"
        raise RequestRefused(
            f"{site.dataset_id} has no approved association with {benchmark_id} in the "
            f"registry ({status}): request it with `dataset associate`, and run the "
            "benchmark once the committee approved it"
        )
    return entry


@dataclass
class Planned:
    benchmark: str
    models: list[str]
    owner: str


def plan(site: Site, benchmark_id: str, *, everything: bool = False) -> Planned:
    """Which models `benchmark run` runs on the benchmark, and for whom."""
    prepared = site.store.prepared(site.dataset_id)
    entry = _checked_dataset(site, benchmark_id, prepared)
    benchmark = site.registry.benchmark(benchmark_id)
    with_result = {
        model for _b, model, ds in site.registry.result_ids(benchmark_id) if ds == site.dataset_id
    }
    approved = approved_models(site.registry, benchmark_id)
    todo = models_to_run(
        approved, str(benchmark["reference_model"]), with_result, everything=everything
    )
    return Planned(benchmark_id, todo, str(entry["owner"]))


def run_models(site: Site, planned: Planned) -> list[dict[str, Any]]:
    """Each planned model on the prepared data, in a run of its own; their records. A
    model that fails does not stop the others (its run says so)."""
    prepared = site.store.prepared(site.dataset_id)
    evaluator = str(site.registry.benchmark(planned.benchmark)["evaluator"])
    records = []
    for model in planned.models:
        run = Run(site, "benchmark", benchmark=planned.benchmark, model=model)
        site.log(f"[{model}] run {run.id}")
        try:
            with run.recorded():
                scored = score(run, prepared, model, evaluator)
                facts = RunFacts(
                    benchmark=planned.benchmark,
                    dataset=site.dataset_id,
                    run_id=run.id,
                    model=scored.model,
                    evaluator=scored.evaluator,
                    metrics=scored.metrics,
                    data_sha256=prepared.data_sha256,
                    num_cases=prepared.num_cases,
                    started_at=run.record["started_at"],
                    finished_at=now_iso(),
                    timings=scored.timings,
                    version=__version__,
                    registry_commit=site.registry_commit,
                )
                write_text(
                    run.folder / "result.yaml", dump_yaml(result_record(facts, planned.owner))
                )
                run.record["metrics"] = scored.metrics
        except CubeFailed as exc:
            site.log(f"[{model}] failed: {exc}")
        records.append(run.record)
    return records


def runs_markdown(benchmark_id: str, dataset_id: str, records: list[dict[str, Any]]) -> str:
    """The job summary of `benchmark run`: metrics only (nothing a container wrote)."""
    if not records:
        return f"### {benchmark_id} on {dataset_id}: no model to run\n"
    names = _metric_names(records)
    rows = [
        [r["model"], r["run_id"], r["status"]]
        + [plain((r.get("metrics") or {}).get(n, "")) for n in names]
        for r in records
    ]
    headers = ["model", "run id", "status", *names]
    return (
        f"### {benchmark_id} on {dataset_id}: results for review (not released)\n\n"
        f"{md_table(headers, rows)}\n\nRelease one with `medperf-action result submit RUN_ID`.\n"
    )


def runs_table(records: list[dict[str, Any]]) -> str:
    """The runs as a table; with a released column when they say (result ls --local)."""
    names = _metric_names(records)
    released = any("released" in r for r in records)
    rows = [
        [str(r.get("benchmark", "")), str(r.get("model", "")), r["run_id"], r["status"]]
        + (["yes" if r.get("released") else "no"] if released else [])
        + [plain((r.get("metrics") or {}).get(n, "")) for n in names]
        for r in records
    ]
    extra = ["released"] if released else []
    return table(["benchmark", "model", "run id", "status", *extra, *names], rows)


def _metric_names(records: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.get("metrics") or {}))
    return list(names)


# ---------------------------------------------------------------------------------------
# submit


def submit(registry: Registry, store: Store, run_id: str) -> tuple[Proposed | None, dict[str, Any]]:
    """Release the run `run_id`: propose its result file to the registry (None: it is
    released already, merged on the registry's default branch)."""
    folder = store.run_folder(run_id)
    run = read_yaml(folder / "run.json", "the run's record")
    if run.get("kind") != "benchmark" or run.get("status") != "passed":
        raise UsageError(
            f"run {run_id} is a {run.get('kind')} run that {run.get('status')}: only a passed "
            "`benchmark run` has a result to release"
        )
    record = read_yaml(folder / "result.yaml", "the run's result")
    bench, model, dataset = record["benchmark"], record["model"], record["dataset"]
    path = result_path(bench, model, dataset)
    check("result", path, record)
    repo = require_github(registry)
    login = whoami(repo)
    _refuse_unless_releasable(registry, record, login)
    released = registry.result(bench, model, dataset)
    if released == record:
        return None, record
    if released is not None:
        raise RequestRefused(
            f"{path} is released already (run {released['run_id']}); a released result is "
            "never replaced by a new run"
        )
    rows = [[k, plain(v)] for k, v in record["metrics"].items()]
    body = (
        f"{result_marker(bench, model, dataset)}\nReleases the result of `{model}` on the "
        f"dataset `{dataset}` for the benchmark `{bench}` (run `{run_id}`, "
        f"{record['num_cases']} cases), reviewed and released by @{login}.\n\n"
        f"{md_table(['metric', 'value'], rows)}\n"
    )
    proposal = Proposal(
        branch=result_branch(bench, model, dataset),
        path=path,
        content=dump_yaml(record),
        title=f"Result of {model} on {dataset} ({bench})",
        body=body,
        message=f"Release the result of {model} on {dataset} for {bench}",
    )
    return propose(repo, proposal), record


def _refuse_unless_releasable(registry: Registry, record: dict[str, Any], login: str) -> None:
    bench, model, dataset = record["benchmark"], record["model"], record["dataset"]
    if record["submitted_by"] != login:
        raise RequestRefused(
            f"the result is {record['submitted_by']}'s (the dataset's owner), not {login}'s"
        )
    entry = registry.find_dataset(dataset)
    if entry is None or entry["owner"] != login:
        raise RequestRefused(f"dataset {dataset} is not registered as {login}'s")
    if entry["prepared"]["data_sha256"] != record["data_sha256"]:
        raise RequestRefused(f"the run's data is not the data registered as {dataset}")
    association = registry.dataset_association(bench, dataset)
    if association is None or association["status"] != "APPROVED":
        raise RequestRefused(f"the association of {dataset} with {bench} is not approved")
    reference = registry.benchmark(bench)["reference_model"]
    if model != reference and model not in approved_models(registry, bench):
        raise RequestRefused(f"{model} has no approved association with {bench}")


# ---------------------------------------------------------------------------------------
# ls


def registry_results(
    registry: Registry,
    benchmark: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """The registry's result files, filtered."""
    return [
        found
        for b, m, d in registry.result_ids(benchmark)
        if (model is None or m == model) and (dataset is None or d == dataset)
        if (found := registry.result(b, m, d)) is not None
    ]


def local_runs(
    store: Store,
    released: set[str],
    benchmark: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """The store's benchmark runs, filtered, each marked released or not."""
    found = []
    for record in store.runs(dataset):
        if record.get("kind") != "benchmark":
            continue
        if benchmark not in (None, record.get("benchmark")) or model not in (
            None,
            record.get("model"),
        ):
            continue
        found.append({**record, "released": record["run_id"] in released})
    return found


def results_table(results: list[dict[str, Any]]) -> str:
    names = _metric_names(results)
    rows = [
        [r["benchmark"], r["model"], r["dataset"], str(r["num_cases"]), r["run_id"]]
        + [plain(r["metrics"].get(n, "")) for n in names]
        for r in results
    ]
    return table(["benchmark", "model", "dataset", "cases", "run id", *names], rows)
