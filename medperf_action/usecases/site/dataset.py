"""A data owner's dataset: `dataset prepare`, `dataset register`, `dataset associate`.

* `prepare` runs the benchmark's data preparator (prepare, sanity_check, statistics) on
  the site's raw data, privately (`runs`), into the store: the prepared data and labels,
  their SHA-256 tree hashes, the statistics for the data owner to review.
* `register` proposes `datasets/<id>.yaml` (hashes and statistics, never the data) as a PR
  from the owner's fork.
* `associate` runs the benchmark's reference model and evaluator on the prepared data,
  then proposes `dataset-associations/<benchmark>/<id>.yaml` (PENDING, that run as its
  compatibility block) with the pending label; the committee decides by label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.files.atomic import write_json, write_text
from medperf_action.adapters.files.hashing import sha256_tree
from medperf_action.adapters.github.client import whoami
from medperf_action.adapters.github.contents import default_branch
from medperf_action.adapters.github.proposals import Proposal, Proposed, propose
from medperf_action.adapters.github.pulls import add_labels, list_pulls
from medperf_action.domain.registry.layout import (
    dataset_associate_branch,
    dataset_association_marker,
    dataset_association_path,
    dataset_branch,
    dataset_marker,
    dataset_path,
    dump_yaml,
)
from medperf_action.domain.registry.requests import PairState, pair_requests, pair_state
from medperf_action.domain.registry.site_files import (
    compatibility,
    dataset_association,
    dataset_entry,
    flat_statistics,
    registered,
)
from medperf_action.errors import RequestRefused, UsageError
from medperf_action.text import md_table, now_iso
from medperf_action.usecases.compat_test.steps import StepResult
from medperf_action.usecases.registries import list_requests, require_github
from medperf_action.usecases.site.runs import Run, Site, score
from medperf_action.usecases.site.store import Prepared, copy_into, read_yaml

#: The kind of a dataset's association request (`layout.REQUEST_NAMES`).
KIND = "dataset-association"


@dataclass(frozen=True)
class PrepareOutcome:
    run_id: str
    entry: dict[str, Any]
    folder: Path


def prepare(
    site: Site, benchmark_id: str, info: dict[str, Any], data: Path, labels: Path
) -> PrepareOutcome:
    """The preparator's three tasks on the raw data; the prepared dataset in the store."""
    for what, path in (("--data-path", data), ("--labels-path", labels)):
        if not path.exists():
            raise UsageError(f"{what} {path}: no such file or folder")
    benchmark = site.registry.benchmark(benchmark_id)
    preparator = str(benchmark["data_preparator"])
    run = Run(site, "prepare", benchmark=benchmark_id, data_preparator=preparator)
    with run.recorded():
        prep = run.with_images({"data_preparator": run.cube(preparator, "data_preparator")})[
            "data_preparator"
        ]
        made = run.step(prep, "prepare", {"data_path": data, "labels_path": labels})
        common = _prepared_inputs(made)
        run.step(prep, "sanity_check", common)
        stats = run.step(prep, "statistics", common)
        statistics = flat_statistics(
            read_yaml(stats.outputs["output_path"], "the preparator's statistics")
        )
        built = site.store.new_dataset_dir(site.dataset_id)
        copy_into(common["data_path"], built / "data")
        copy_into(common["labels_path"], built / "labels")
        hashes = (sha256_tree(built / "data"), sha256_tree(built / "labels"))
        entry = dataset_entry(info, preparator, hashes, statistics, now_iso(), __version__)
        registered(entry, "data-owner")  # valid for the registry but for the owner's login
        write_text(built / "statistics.yaml", dump_yaml(statistics))
        write_json(built / "entry.json", entry)
        image = {"id": prep.id, "image_id": prep.image_id}
        write_json(built / "prepare.json", {"benchmark": benchmark_id, "run_id": run.id, **image})
        folder = site.store.put_dataset(site.dataset_id, built)
        run.record.update(data_sha256=hashes[0], labels_sha256=hashes[1])
    return PrepareOutcome(run.id, entry, folder)


def _prepared_inputs(made: StepResult) -> dict[str, Path]:
    common = {
        "data_path": made.outputs["output_path"],
        "labels_path": made.outputs.get("output_labels_path", made.outputs["output_path"]),
    }
    if "metadata_path" in made.outputs:
        common["metadata_path"] = made.outputs["metadata_path"]
    return common


def statistics_table(entry: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The statistics the data owner reviews, and the hashes, as table rows."""
    rows = [[key, plain(value)] for key, value in entry["statistics"].items()]
    rows += [
        ["(data sha256)", entry["prepared"]["data_sha256"]],
        ["(labels sha256)", entry["prepared"]["labels_sha256"]],
    ]
    return ["statistic", "value"], rows


def plain(value: Any) -> str:
    """A statistic or metric as a person reads it (`null` for none)."""
    return "null" if value is None else str(value)


def statistics_markdown(entry: dict[str, Any]) -> str:
    headers, rows = statistics_table(entry)
    return f"### Dataset {entry['id']}: statistics for review\n\n{md_table(headers, rows)}\n"


def association_markdown(record: dict[str, Any], run_id: str) -> str:
    """The job summary of `dataset associate`: the reference model's metrics only."""
    block = record["compatibility"]
    rows = [[k, plain(v)] for k, v in block["metrics"].items()]
    return (
        f"### Dataset {record['dataset']} with {record['benchmark']}: the reference model "
        f"{block['reference_model']['id']} on the prepared data (run {run_id})\n\n"
        f"{md_table(['metric', 'value'], rows)}\n"
    )


# ---------------------------------------------------------------------------------------
# register


def register(site: Site) -> tuple[Proposed, dict[str, Any]]:
    """Propose `datasets/<id>.yaml`: the store's entry with the token user as its owner."""
    repo = require_github(site.registry)
    prepared = site.store.prepared(site.dataset_id)
    owner = whoami(repo)
    current = site.registry.find_dataset(site.dataset_id)
    if current is not None and current["owner"] != owner:
        raise RequestRefused(
            f"dataset id {site.dataset_id!r} belongs to {current['owner']} in "
            f"{site.registry.description}; choose another id"
        )
    if current is not None and current["prepared"] != prepared.entry["prepared"]:
        approved = approved_benchmarks(site)
        if approved:
            raise RequestRefused(
                f"dataset {site.dataset_id} has an approved association with "
                f"{', '.join(approved)}: its prepared data is frozen, and the data prepared "
                "here is other data; register it under a new dataset id"
            )
    marker = dataset_marker(site.dataset_id)
    for pull in list_pulls(repo, state="open"):
        if marker in pull.body and pull.author != owner:
            raise RequestRefused(
                f"dataset id {site.dataset_id!r} is requested by {pull.author} in PR "
                f"#{pull.number}; choose another id"
            )
    entry = registered(prepared.entry, owner)
    text = dump_yaml(entry)
    headers, rows = statistics_table(entry)
    body = (
        f"{marker}\nRegisters the dataset `{site.dataset_id}` of @{owner}, prepared with "
        f"`{entry['data_preparator']}`: its hashes and the statistics its owner reviewed; "
        f"the data stays at the site.\n\n{md_table(headers, rows)}\n"
    )
    proposal = Proposal(
        branch=dataset_branch(site.dataset_id),
        path=dataset_path(site.dataset_id),
        content=text,
        title=f"Register dataset {site.dataset_id}",
        body=body,
        message=f"Register dataset {site.dataset_id}",
    )
    return propose(repo, proposal), entry


def approved_benchmarks(site: Site) -> list[str]:
    """The benchmarks the dataset has an APPROVED association with."""
    return [
        benchmark
        for benchmark in site.registry.source.list_dir("dataset-associations")
        if site.registry.approved("dataset-association", benchmark, site.dataset_id)
    ]


# ---------------------------------------------------------------------------------------
# associate


def _registered_here(site: Site, prepared: Prepared, login: str) -> dict[str, Any]:
    """The dataset's registry entry: there, the login's, and of the data prepared here."""
    entry = site.registry.find_dataset(site.dataset_id)
    if entry is None:
        raise RequestRefused(
            f"dataset {site.dataset_id} is not in {site.registry.description} yet: run "
            "`dataset register`, and associate once its PR is merged"
        )
    if entry["owner"] != login:
        raise RequestRefused(f"dataset {site.dataset_id} belongs to {entry['owner']}")
    if entry["prepared"]["data_sha256"] != prepared.data_sha256:
        raise RequestRefused(
            f"the data prepared on this machine ({prepared.data_sha256[:12]}) is not the data "
            f"registered as {site.dataset_id} ({entry['prepared']['data_sha256'][:12]}): "
            "register it again (or under a new id)"
        )
    return entry


def associate(site: Site, benchmark_id: str) -> tuple[Proposed, dict[str, Any], str]:
    """Run the reference model on the prepared data; propose the association.

    Returns the PR, the record and the run's id."""
    repo = require_github(site.registry)
    prepared = site.store.prepared(site.dataset_id)
    login = whoami(repo)
    benchmark = site.registry.benchmark(benchmark_id)
    if benchmark.get("approval_status") != "APPROVED":
        raise RequestRefused(
            f"benchmark {benchmark_id} is {benchmark.get('approval_status')}; datasets "
            "associate only with an approved benchmark"
        )
    _registered_here(site, prepared, login)
    if benchmark["data_preparator"] != prepared.entry["data_preparator"]:
        raise RequestRefused(
            f"benchmark {benchmark_id} prepares data with {benchmark['data_preparator']}, "
            f"but {site.dataset_id} was prepared with {prepared.entry['data_preparator']}"
        )
    branch = request_branch(site, benchmark_id)
    reference = str(benchmark["reference_model"])
    run = Run(site, "associate", benchmark=benchmark_id, model=reference)
    with run.recorded():
        scored = score(run, prepared, reference, str(benchmark["evaluator"]))
        run.record["metrics"] = scored.metrics
    block = compatibility(
        prepared.data_sha256, scored.model, scored.evaluator, scored.metrics, now_iso()
    )
    record = dataset_association(benchmark_id, site.dataset_id, login, block, now_iso())
    metrics = md_table(["metric", "value"], [[k, plain(v)] for k, v in scored.metrics.items()])
    body = (
        f"{dataset_association_marker(benchmark_id, site.dataset_id)}\n"
        f"Requests the association of the dataset `{site.dataset_id}` with the benchmark "
        f"`{benchmark_id}`, initiated by @{login}. The reference model `{reference}` ran on "
        "the prepared data at the site (the registry cannot re-run on private data: this "
        f"run is the data owner's statement). Its metrics:\n\n{metrics}\n"
    )
    proposal = Proposal(
        branch=branch,
        path=dataset_association_path(benchmark_id, site.dataset_id),
        content=dump_yaml(record),
        title=f"Associate dataset {site.dataset_id} with {benchmark_id}",
        body=body,
        message=f"Request the association of dataset {site.dataset_id} with {benchmark_id}",
        labels=(site.registry.config().labels["pending"],),
    )
    return propose(repo, proposal), record, run.id


def association_state(site: Site, benchmark_id: str) -> PairState:
    """The pair's state, as `registry verify` sees it: APPROVED (its file on the default
    branch, or a merged request), PENDING (an open request), REJECTED or NONE; only the
    requests opened by the dataset's owner count (`requests.pair_state`)."""
    repo = require_github(site.registry)
    d = site.dataset_id
    committed = site.registry.dataset_association(benchmark_id, d) is not None
    owner = (site.registry.find_dataset(d) or {}).get("owner")
    requests = pair_requests(
        list_requests(repo, default_branch(repo)), benchmark_id, d, owner, KIND
    )
    return pair_state(requests, site.registry.config().labels["rejected"], committed)


def request_branch(site: Site, benchmark_id: str) -> str:
    """The branch of a new association request for the pair: attempt N after N-1
    rejected (or withdrawn) ones; refused while one is open or once one was approved."""
    d = site.dataset_id
    pair = association_state(site, benchmark_id)
    if pair.status == "APPROVED":
        merged = next((r for r in pair.requests if r.merged), None)
        where = f" (PR #{merged.number}, {merged.url})" if merged is not None else ""
        raise RequestRefused(
            f"{d} already has an approved association with {benchmark_id}{where}; an "
            "approved pair is never requested again"
        )
    if pair.status == "PENDING" and pair.open is not None:
        opened = pair.open
        pending = site.registry.config().labels["pending"]
        if not opened.has_label(pending):  # a request cut short before it was labelled
            add_labels(opened.listing.pull, (pending,))
        raise RequestRefused(
            f"{d} already has a pending association request with {benchmark_id} (PR "
            f"#{opened.number}, {opened.url}); a new request is allowed once it is rejected "
            "(or withdrawn)"
        )
    return dataset_associate_branch(benchmark_id, d, pair.next_attempt(benchmark_id, d, KIND))
