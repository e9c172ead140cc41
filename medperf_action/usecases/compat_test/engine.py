"""The compatibility test: the benchmark's workflow on its demo data, in real containers.

demo dataset (fetched, hash-checked, safely extracted) -> prepare -> sanity_check and
statistics -> infer (candidate and reference model) -> evaluate (both), the independent
steps side by side (`StepRunner`, cached step by step). The execution summary records the
benchmark, the cubes and their image digests, input hashes, the metrics of the candidate
and the reference, per-task times and exit codes, and the tool's version.
"""

from __future__ import annotations

import functools
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import TaskMisbehaved, UsageError, YamlError
from medperf_action.interrupts import cancellable
from medperf_action.settings import cache_dir
from medperf_action.text import now_iso
from medperf_action.usecases.compat_test.dataset import dataset_source, fetch_dataset
from medperf_action.usecases.compat_test.images import prepare_images
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import (
    ROLE_OF,
    Participant,
    resolve_participants,
)
from medperf_action.usecases.compat_test.report import write_failure, write_output
from medperf_action.usecases.compat_test.steps import StepResult, StepRunner, main_output
from medperf_action.usecases.registries import open_registry

TASK_ORDER = ("prepare", "sanity_check", "statistics", "infer", "evaluate")
SUBJECT_ORDER = (None, "candidate", "reference_model")


@dataclass
class Outcome:
    summary: dict[str, Any]
    results: dict[str, Path]
    logs: dict[str, Path]
    statistics: Path | None


# ---------------------------------------------------------------------------------------
# The whole run


def _registry(opts: Options) -> Registry | None:
    if isinstance(opts.registry, Registry) or opts.registry is None:
        return opts.registry  # opened already by the caller (associate, verify), or none
    return open_registry(opts.registry, opts.registry_token)


def _benchmark(opts: Options, registry: Registry | None) -> dict[str, Any] | None:
    if not opts.benchmark:
        return None
    if registry is None:
        raise UsageError("--benchmark needs --registry")
    if not registry.has_benchmark(opts.benchmark):
        known = ", ".join(registry.benchmark_ids()) or "none"
        raise UsageError(f"--benchmark {opts.benchmark}: no such benchmark ({known})")
    benchmark = registry.benchmark(opts.benchmark)
    if benchmark.get("approval_status") != "APPROVED":
        opts.log(f"note: benchmark {opts.benchmark} is {benchmark.get('approval_status')}")
    return benchmark


def run_workflow(opts: Options) -> Outcome:
    """Run the compatibility test; with `opts.output`, write what the user gets there,
    also when a task fails (the logs so far and a summary with passed: false)."""
    if opts.output is not None and opts.output.exists() and not opts.output.is_dir():
        raise UsageError(f"--output {opts.output}: exists and is not a folder")
    if opts.demo_dataset_sha256 and not opts.demo_dataset:
        raise UsageError("--demo-dataset-sha256 needs --demo-dataset")
    cache = opts.cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    run = _Run(opts, cache)
    registry = _registry(opts)
    benchmark = _benchmark(opts, registry)
    run.registry_description = registry.description if registry else "(command line)"
    run.parts = resolve_participants(opts, benchmark, registry, cache)
    source, sha = dataset_source(opts, benchmark, registry)
    run.dataset = {"source": source, "sha256": sha or "0" * 64}
    with cancellable(run.runner.cancel), ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        try:
            return run.execute(source, sha, pool)
        except BaseException:
            run.runner.cancel()  # before the pool waits for its workers
            if opts.output is not None:
                write_failure(opts.output, run.summary(False, None), dict(run.runner.logs))
            raise
        finally:
            shutil.rmtree(run.runner.scratch, ignore_errors=True)


class _Run:
    """One compatibility test under way: what it knows so far, for its summary."""

    def __init__(self, opts: Options, cache: Path) -> None:
        self.opts = opts
        self.cache = cache
        self.started = now_iso()
        self.t0 = time.perf_counter()
        self.runner = StepRunner(opts, cache, uuid.uuid4().hex[:12])
        self.registry_description = "(command line)"
        self.parts: dict[str, Participant] = {}
        self.dataset: dict[str, Any] = {}

    def execute(self, source: str, sha: str | None, pool: ThreadPoolExecutor) -> Outcome:
        fetched, data_path, labels_path = fetch_dataset(source, sha, self.cache, self.opts)
        self.dataset["sha256"] = fetched.sha256
        prepare_images(self.parts, self.opts, pool)
        outcome = _steps(self.runner, self.parts, data_path, labels_path, pool)
        outcome.summary = self.summary(
            True,
            {
                "candidate": _metrics(outcome.results["candidate"]),
                "reference": _metrics(outcome.results["reference_model"]),
            },
        )
        outcome.logs = dict(self.runner.logs)
        if self.opts.output is not None:
            write_output(
                self.opts.output,
                outcome.summary,
                outcome.results,
                outcome.logs,
                outcome.statistics,
            )
        return outcome

    def summary(self, passed: bool, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "tool": {"name": "medperf-action", "version": __version__},
            "benchmark": {
                "id": self.opts.benchmark or "local",
                "registry": self.registry_description,
            },
            "started_at": self.started,
            "finished_at": now_iso(),
            "duration_s": round(time.perf_counter() - self.t0, 3),
            "passed": passed,
            "dataset": self.dataset,
            "cubes": {k: p.as_summary() for k, p in self.parts.items()},
            "tasks": sorted(self.runner.records, key=_task_order),
            "metrics": metrics or {"candidate": None, "reference": None},
        }


def _task_order(record: dict[str, Any]) -> tuple[int, int]:
    task = TASK_ORDER.index(record["task"]) if record["task"] in TASK_ORDER else len(TASK_ORDER)
    return task, SUBJECT_ORDER.index(record.get("subject"))


def _metrics(path: Path) -> dict[str, Any]:
    try:
        data = load_file(path).data
    except YamlError as exc:
        raise TaskMisbehaved(f"the evaluator's results are not YAML: {exc.message}") from None
    if not isinstance(data, dict):
        raise TaskMisbehaved("the evaluator's results are not a mapping of metrics")
    return data


def _parallel(
    pool: ThreadPoolExecutor, jobs: dict[str, Callable[[], StepResult]]
) -> dict[str, StepResult]:
    futures: dict[str, Future[StepResult]] = {name: pool.submit(fn) for name, fn in jobs.items()}
    done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
    failed = [f.exception() for f in futures.values() if f in done and f.exception() is not None]
    if failed:
        wait(futures.values())  # let the others finish, so their containers are gone too
        raise failed[0]  # type: ignore[misc]
    return {name: f.result() for name, f in futures.items()}


def _steps(
    runner: StepRunner,
    parts: dict[str, Participant],
    data_path: Path,
    labels_path: Path,
    pool: ThreadPoolExecutor,
) -> Outcome:
    prep, cand, ref, ev = (parts[k] for k in ROLE_OF)
    prepared = runner.run(prep, "prepare", {"data_path": data_path, "labels_path": labels_path})
    data = prepared.outputs["output_path"]
    labels = prepared.outputs.get("output_labels_path", data)
    extra = (
        {"metadata_path": prepared.outputs["metadata_path"]}
        if "metadata_path" in prepared.outputs
        else {}
    )
    common = {"data_path": data, "labels_path": labels, **extra}
    stage = _parallel(
        pool,
        {
            "sanity": lambda: runner.run(prep, "sanity_check", common),
            "stats": lambda: runner.run(prep, "statistics", common),
            "candidate": lambda: runner.run(cand, "infer", {"data_path": data}, "candidate"),
            "reference_model": lambda: runner.run(
                ref, "infer", {"data_path": data}, "reference_model"
            ),
        },
    )

    def evaluate(key: str) -> StepResult:
        who = parts[key]
        preds = stage[key].outputs[main_output(who.cube, "infer", file=False)]
        return runner.run(ev, "evaluate", {"predictions": preds, "labels": labels}, key)

    evaluated = _parallel(
        pool, {k: functools.partial(evaluate, k) for k in ("candidate", "reference_model")}
    )
    metrics_out = main_output(ev.cube, "evaluate", file=True)
    results = {k: evaluated[k].outputs[metrics_out] for k in evaluated}
    stats_out = stage["stats"].outputs.get("output_path")
    return Outcome({}, results, {}, stats_out)
