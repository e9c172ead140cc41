"""The data owners' registry files, built from what ran on the site, and checked.

Pure: a dataset's entry (`datasets/<id>.yaml`), its association request
(`dataset-associations/<benchmark>/<dataset>.yaml`) and a released result
(`results/<benchmark>/<model>/<dataset>.yaml`), each valid against its schema before it
leaves the site, and which models a site's `benchmark run` runs. None of them holds a byte
of the data: hashes, the statistics the data owner reviewed, metrics.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.domain.registry.layout import (
    dataset_association_path,
    dataset_path,
    dump_yaml,
    result_path,
)
from medperf_action.domain.validation import validate_file
from medperf_action.errors import RegistryInvalid, TaskMisbehaved

RUN_ID = re.compile(r"^[0-9a-f]{12}$")
#: What the statistics may hold: a flat mapping of scalars (no per-case records).
_SCALARS = (str, int, float, bool, type(None))


def new_run_id() -> str:
    """A run's id on a site: 12 lower-case hex digits."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Ran:
    """One cube as it ran: its registry id, its pin (a published entry's), its image."""

    id: str
    image_id: str
    pin: dict[str, Any] | None = None

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id}
        if self.pin is not None:
            record["pin"] = self.pin
        record["image_id"] = self.image_id
        return record


def check(kind: str, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data`, valid against the schema of `kind`; a RegistryInvalid saying why not."""
    report = validate_file(Path(path), kind, text=dump_yaml(data), shown_as=path)
    report.raise_errors(RegistryInvalid, f"{path} would be invalid")
    return data


def flat_statistics(data: Any) -> dict[str, Any]:
    """The preparator's statistics as a flat mapping of scalars, else TaskMisbehaved: a
    nested value could carry per-case records, and the statistics cross to GitHub."""
    if not isinstance(data, dict):
        raise TaskMisbehaved("the data preparator's statistics are not a mapping")
    nested = sorted(str(k) for k, v in data.items() if not isinstance(v, _SCALARS))
    if nested:
        raise TaskMisbehaved(
            "the data preparator's statistics must be a flat mapping of scalars; these are "
            f"not: {', '.join(nested[:5])}"
        )
    return {str(k): v for k, v in data.items()}


def num_cases(statistics: dict[str, Any]) -> int:
    value = statistics.get("num_cases")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TaskMisbehaved(
            "the data preparator's statistics give no num_cases (a positive integer), which "
            "the registry needs (the leaderboard weights its means by it)"
        )
    return value


def dataset_entry(
    site: dict[str, Any],
    preparator: str,
    hashes: tuple[str, str],
    statistics: dict[str, Any],
    when: str,
    version: str,
    owner: str | None = None,
) -> dict[str, Any]:
    """`datasets/<id>.yaml`; `site` holds .medperf-site.yml's `dataset` (id, name, and
    optionally description and location). Without `owner`, the entry as the store keeps
    it until `dataset register` knows who registers it."""
    entry: dict[str, Any] = {"id": site["id"], "name": site["name"]}
    for key in ("description", "location"):
        if site.get(key):
            entry[key] = site[key]
    if owner is not None:
        entry["owner"] = owner
    entry["data_preparator"] = preparator
    entry["prepared"] = {
        "data_sha256": hashes[0],
        "labels_sha256": hashes[1],
        "num_cases": num_cases(statistics),
    }
    entry["statistics"] = statistics
    entry["state"] = "OPERATION"
    entry["created_at"] = when
    entry["tool"] = {"name": "medperf-action", "version": version}
    return entry


def registered(entry: dict[str, Any], owner: str) -> dict[str, Any]:
    """The store's entry with its owner, valid for the registry."""
    found = {k: v for k, v in entry.items() if k != "owner"}
    first = ("id", "name", "description", "location")
    ordered: dict[str, Any] = {k: found[k] for k in first if k in found}
    ordered["owner"] = owner
    ordered.update({k: v for k, v in found.items() if k not in ordered})
    return check("dataset", dataset_path(entry["id"]), ordered)


def dataset_association(
    benchmark_id: str,
    dataset_id: str,
    login: str,
    compatibility: dict[str, Any],
    when: str,
) -> dict[str, Any]:
    """`dataset-associations/<benchmark>/<dataset>.yaml`, PENDING."""
    record = {
        "benchmark": benchmark_id,
        "dataset": dataset_id,
        "status": "PENDING",
        "initiated_by": login,
        "created_at": when,
        "compatibility": compatibility,
    }
    return check("dataset-association", dataset_association_path(benchmark_id, dataset_id), record)


def compatibility(
    data_sha256: str, reference: Ran, evaluator: Ran, metrics: dict[str, Any], when: str
) -> dict[str, Any]:
    return {
        "passed": True,
        "data_sha256": data_sha256,
        "reference_model": reference.as_record(),
        "evaluator": evaluator.as_record(),
        "metrics": metrics,
        "finished_at": when,
    }


@dataclass(frozen=True)
class RunFacts:
    """What a benchmark run on the site was: for its result file."""

    benchmark: str
    dataset: str
    run_id: str
    model: Ran
    evaluator: Ran
    metrics: dict[str, Any]
    data_sha256: str
    num_cases: int
    started_at: str
    finished_at: str
    timings: dict[str, float]
    version: str
    registry_commit: str | None = None


def result_record(facts: RunFacts, submitted_by: str) -> dict[str, Any]:
    """`results/<benchmark>/<model>/<dataset>.yaml`."""
    record: dict[str, Any] = {
        "benchmark": facts.benchmark,
        "model": facts.model.id,
        "dataset": facts.dataset,
        "submitted_by": submitted_by,
        "run_id": facts.run_id,
        "metrics": facts.metrics,
        "data_sha256": facts.data_sha256,
        "num_cases": facts.num_cases,
        "model_cube": facts.model.as_record(),
        "evaluator": facts.evaluator.as_record(),
    }
    if facts.registry_commit:
        record["registry_commit"] = facts.registry_commit
    record.update(
        {
            "started_at": facts.started_at,
            "finished_at": facts.finished_at,
            "timings": facts.timings,
            "tool": {"name": "medperf-action", "version": facts.version},
        }
    )
    path = result_path(facts.benchmark, facts.model.id, facts.dataset)
    return check("result", path, record)


def models_to_run(
    approved: list[str],
    reference_model: str,
    with_result: set[str],
    *,
    everything: bool = False,
) -> list[str]:
    """The models a site runs on a benchmark: every model with an APPROVED association,
    and the benchmark's reference model (it is the benchmark's own: it needs none), each
    once, in that order; without `everything`, only those without a result yet."""
    models = [reference_model, *sorted(m for m in approved if m != reference_model)]
    return [m for m in models if everything or m not in with_result]
