"""A benchmark's leaderboard: the released results of each model on each site's dataset.

From the registry's files (already validated by the reader) this builds one `Board` per
benchmark: its datasets (the columns), its models (the rows), each metric's value per
dataset, and each metric's mean over the datasets weighted by their number of cases. No
rendering here: `usecases/leaderboard/` turns a board into Markdown, SVG and HTML.

The rules, in one place:

* Metrics: the benchmark's `metrics` list when it has one (in its order: the first one is
  the chart's and orders the rows), else every metric any result names, by name.
* A metric's weighted mean for a model is the sum of value x num_cases over the datasets
  where the value is a finite number, divided by the sum of their num_cases. A dataset's
  num_cases is its `prepared.num_cases` (datasets/ID.yaml), else what its result says.
  Text, booleans, null and NaN/infinity are shown but never averaged.
* Rows: the highest weighted mean of the first metric first, then by model id; a model
  with no mean for it comes last. Columns: datasets by id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DatasetColumn:
    id: str
    name: str
    num_cases: int
    entry: dict[str, Any] | None  # datasets/ID.yaml, when registered


@dataclass(frozen=True)
class Row:
    model: str
    name: str
    values: dict[tuple[str, str], Any]  # (metric, dataset) -> the value as released
    means: dict[str, float | None]  # metric -> weighted mean
    entry: dict[str, Any] | None  # mlcubes/ID.yaml, when registered
    runs: tuple[dict[str, Any], ...]  # what ran: image ids and pins, each once


@dataclass(frozen=True)
class Board:
    benchmark: str
    name: str
    description: str
    metrics: tuple[str, ...]
    datasets: tuple[DatasetColumn, ...]
    rows: tuple[Row, ...]
    results: tuple[tuple[str, str], ...] = field(default=())  # (model, dataset) present

    @property
    def first_metric(self) -> str | None:
        return self.metrics[0] if self.metrics else None


def is_number(value: Any) -> bool:
    """A value a mean can use: an int or float (not a bool), finite."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def weighted_mean(pairs: Iterable[tuple[Any, int]]) -> float | None:
    """sum(value x weight) / sum(weight) over the pairs whose value is a number; None
    when there is none. math.fsum keeps it exact to the last bit, whatever the order."""
    used = [(float(v), w) for v, w in pairs if is_number(v) and w > 0]
    if not used:
        return None
    return math.fsum(v * w for v, w in used) / math.fsum(w for _, w in used)


def _metrics(benchmark: dict[str, Any], results: list[dict[str, Any]]) -> tuple[str, ...]:
    listed = benchmark.get("metrics")
    if listed:
        return tuple(str(m) for m in listed)
    return tuple(sorted({str(m) for r in results for m in r["metrics"]}))


def _columns(
    results: list[dict[str, Any]], datasets: dict[str, dict[str, Any] | None]
) -> tuple[DatasetColumn, ...]:
    cases: dict[str, int] = {}
    for result in results:
        cases.setdefault(result["dataset"], int(result["num_cases"]))
    columns = []
    for dataset_id in sorted(cases):
        entry = datasets.get(dataset_id)
        if entry is not None:
            num, name = int(entry["prepared"]["num_cases"]), str(entry["name"])
        else:
            num, name = cases[dataset_id], dataset_id
        columns.append(DatasetColumn(dataset_id, name, num, entry))
    return tuple(columns)


def _runs(results: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The distinct model cubes that ran (image id and pin), in a stable order."""
    seen: dict[str, dict[str, Any]] = {}
    for result in results:
        cube = result["model_cube"]
        run = {"image_id": cube["image_id"], "pin": cube.get("pin")}
        seen.setdefault(json.dumps(run, sort_keys=True), run)
    return tuple(seen[k] for k in sorted(seen))


def build_board(
    benchmark: dict[str, Any],
    results: list[dict[str, Any]],
    datasets: dict[str, dict[str, Any] | None],
    mlcubes: dict[str, dict[str, Any] | None],
) -> Board:
    """The board of one benchmark from its results (each results/B/M/D.yaml, read)."""
    metrics = _metrics(benchmark, results)
    columns = _columns(results, datasets)
    weight = {c.id: c.num_cases for c in columns}
    by_model: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_model.setdefault(result["model"], []).append(result)
    rows = []
    for model, own in by_model.items():
        values = {(m, r["dataset"]): r["metrics"].get(m) for r in own for m in metrics}
        means = {
            m: weighted_mean((r["metrics"].get(m), weight[r["dataset"]]) for r in own)
            for m in metrics
        }
        entry = mlcubes.get(model)
        name = str(entry["name"]) if entry is not None and entry.get("name") else model
        rows.append(Row(model, name, values, means, entry, _runs(own)))
    first = metrics[0] if metrics else None
    rows.sort(key=lambda r: _order(r, first))
    return Board(
        benchmark=str(benchmark["id"]),
        name=str(benchmark.get("name") or benchmark["id"]),
        description=str(benchmark.get("description") or ""),
        metrics=metrics,
        datasets=columns,
        rows=tuple(rows),
        results=tuple(sorted((r["model"], r["dataset"]) for r in results)),
    )


def _order(row: Row, metric: str | None) -> tuple[int, float, str]:
    mean = row.means.get(metric) if metric is not None else None
    return (1, 0.0, row.model) if mean is None else (0, -mean, row.model)


def show_number(value: Any) -> str:
    """A metric value as every rendering shows it: floats to 4 decimals, the rest as is."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)
