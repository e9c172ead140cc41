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
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.files.atomic import write_text
from medperf_action.adapters.github.client import whoami
from medperf_action.adapters.github.proposals import Proposal, Proposed, propose
from medperf_action.adapters.sealing import private_key, recipient, recipient_of, seal, unseal
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
from medperf_action.errors import CubeFailed, RequestRefused, SealingError, UsageError
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
        if registry.approved("association", benchmark_id, model)
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
    released already, merged on the registry's default branch). When registry.yaml seals
    results, the file holds the metrics sealed to the committee's key (`sealed_for`); the
    run's own result.yaml, in the store, keeps them in the clear."""
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
    sealed_to = registry.config().results_sealed_to
    document = record if sealed_to is None else sealed_for(folder, record, sealed_to)
    released = registry.result(bench, model, dataset)
    if released is not None and same_release(released, document):
        return None, document
    if released is not None:
        raise RequestRefused(
            f"{path} is released already (run {released['run_id']}); a released result is "
            "never replaced by a new run"
        )
    proposal = Proposal(
        branch=result_branch(bench, model, dataset),
        path=path,
        content=dump_yaml(document),
        title=f"Result of {model} on {dataset} ({bench})",
        body=_submit_body(document, login),
        message=f"Release the result of {model} on {dataset} for {bench}",
    )
    return propose(repo, proposal), document


def _submit_body(document: dict[str, Any], login: str) -> str:
    """The results PR's body: the metrics, or when they are sealed, to whom (never them)."""
    bench, model, dataset = document["benchmark"], document["model"], document["dataset"]
    if "sealed" in document:
        shown = (
            "The metrics are sealed to the committee's key (registry.yaml `results.sealed_to`, "
            f"key SHA-256 `{document['sealed']['recipient']}`): only the committee opens them "
            "(`medperf-action result ls --key`)."
        )
    else:
        rows = [[k, plain(v)] for k, v in document["metrics"].items()]
        shown = md_table(["metric", "value"], rows)
    return (
        f"{result_marker(bench, model, dataset)}\nReleases the result of `{model}` on the "
        f"dataset `{dataset}` for the benchmark `{bench}` (run `{document['run_id']}`, "
        f"{document['num_cases']} cases), reviewed and released by @{login}.\n\n{shown}\n"
    )


#: In a run's folder: its result as released, metrics sealed (kept, so that submitting the
#: run again proposes the same file, and recognises it once merged).
SEALED_FILE = "result.sealed.yaml"


def sealed_for(folder: Path, record: dict[str, Any], public_pem: str) -> dict[str, Any]:
    """The result `record` with its metrics sealed to `public_pem`, in their place: the
    seal made for this run before when it is to the same key, else a new one."""
    path = result_path(record["benchmark"], record["model"], record["dataset"])
    try:
        to = recipient(public_pem)
    except SealingError as exc:
        raise SealingError(
            f"the registry's registry.yaml seals results (results.sealed_to), but to no "
            f"usable key: {exc}; nothing was released (tell the committee)"
        ) from None
    kept = folder / SEALED_FILE
    if kept.is_file():
        before = read_yaml(kept, "the run's sealed result")
        if (
            isinstance(before, dict)
            and same_release(before, record)
            and (before.get("sealed") or {}).get("recipient") == to
        ):
            return before
    sealed = seal(record["metrics"], public_pem, path)
    document = {
        ("sealed" if k == "metrics" else k): (sealed if k == "metrics" else v)
        for k, v in record.items()
    }
    check("result", path, document)
    write_text(kept, dump_yaml(document))
    return document


def same_release(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two result files release the same run: equal but for the metrics, and the
    same metrics when both hold them in the clear (a seal differs each time it is made)."""
    rest = [{k: v for k, v in d.items() if k not in ("metrics", "sealed")} for d in (a, b)]
    both_clear = "metrics" in a and "metrics" in b
    return rest[0] == rest[1] and (not both_clear or a["metrics"] == b["metrics"])


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
    if not registry.approved("dataset-association", bench, dataset):
        raise RequestRefused(f"the association of {dataset} with {bench} is not approved")
    reference = registry.benchmark(bench)["reference_model"]
    if model != reference and not registry.approved("association", bench, model):
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


def open_results(
    results: list[dict[str, Any]], pem: bytes, password: bytes | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The results with the metrics sealed to the private key `pem` opened (`metrics` in
    place of `sealed`, and `sealed_to`: the key's SHA-256), and notes on those sealed to
    another key (left sealed). A SealingError when the key opens none of the sealed
    results, or a seal made for it does not open (altered, or moved from another result)."""
    try:
        key = private_key(pem, password)
    except SealingError as exc:
        encrypted = password is None and b"ENCRYPTED" in pem
        hint = " (it is encrypted: give its password with --password-env VAR)" if encrypted else ""
        raise SealingError(f"--key: {exc}{hint}") from None
    mine = recipient_of(key)
    sealed = [r for r in results if "sealed" in r]
    recipients = sorted({str(r["sealed"].get("recipient")) for r in sealed})
    if sealed and mine not in recipients:
        raise SealingError(
            f"this key opens none of the {len(sealed)} sealed results: they are sealed to the "
            f"key with SHA-256 {', '.join(recipients)}, and this key's is {mine} (the "
            "committee's private key, whose public key is registry.yaml's results.sealed_to, "
            "opens them)"
        )
    opened, notes = [], []
    for result in results:
        seal_ = result.get("sealed")
        if seal_ is None or seal_.get("recipient") != mine:
            opened.append(result)
            if seal_ is not None:
                notes.append(f"{_place(result)}: sealed to another key, left sealed")
            continue
        metrics = unseal(seal_, key, _place(result))
        opened.append(
            {
                **{
                    ("metrics" if k == "sealed" else k): (metrics if k == "sealed" else v)
                    for k, v in result.items()
                },
                "sealed_to": mine,
            }
        )
    return opened, notes


def _place(result: dict[str, Any]) -> str:
    return result_path(result["benchmark"], result["model"], result["dataset"])


def results_table(results: list[dict[str, Any]]) -> str:
    """The results as a table; a sealed result's metrics read `sealed`."""
    names = _metric_names(results) or (["metrics"] if results else [])
    rows = [
        [r["benchmark"], r["model"], r["dataset"], str(r["num_cases"]), r["run_id"]]
        + ["sealed" if "sealed" in r else plain(r["metrics"].get(n, "")) for n in names]
        for r in results
    ]
    return table(["benchmark", "model", "dataset", "cases", "run id", *names], rows)
