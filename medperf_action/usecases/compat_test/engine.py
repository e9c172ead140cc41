"""The compatibility test: the benchmark's workflow on its demo data, in real containers.

demo dataset (fetched, hash-checked, safely extracted) -> prepare -> sanity_check and
statistics -> infer (candidate and reference model) -> evaluate (both), as a graph of jobs
(`graph`): the image checks and the demo data at once, each step as soon as its inputs and
its image are there, the critical path (prepare -> infer -> evaluate) first, at most
--jobs at a time (`StepRunner` runs each step, cached step by step). The execution summary
records the benchmark, the cubes and their image digests, input hashes, the metrics of the
candidate and the reference, per-task times and exit codes, and the tool's version.
"""

from __future__ import annotations

import functools
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import PredictionsRejected, TaskMisbehaved, UsageError, YamlError
from medperf_action.interrupts import cancellable
from medperf_action.settings import cache_dir
from medperf_action.text import now_iso
from medperf_action.usecases.compat_test.dataset import dataset_source, fetch_dataset
from medperf_action.usecases.compat_test.graph import Job, Workers, run_graph
from medperf_action.usecases.compat_test.images import Source, image_groups, resolve_group
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import Participant, resolve_participants
from medperf_action.usecases.compat_test.report import Kept, write_failure, write_output
from medperf_action.usecases.compat_test.steps import StepResult, StepRunner, main_output
from medperf_action.usecases.provenance import keep_statement, run_statement
from medperf_action.usecases.registries import open_registry

TASK_ORDER = ("prepare", "sanity_check", "statistics", "infer", "evaluate")
SUBJECT_ORDER = (None, "candidate", "reference_model")
SUBJECTS = ("candidate", "reference_model")


@dataclass
class Outcome:
    summary: dict[str, Any]
    results: dict[str, Path]
    logs: dict[str, Path]
    statistics: Path | None
    #: The cubes that ran, with their images (what a result statement names).
    parts: dict[str, Participant] = field(default_factory=dict)


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
    with cancellable(run.runner.cancel), Workers(opts.jobs) as workers:
        try:
            return run.execute(source, sha, workers)
        except BaseException:
            run.runner.cancel()  # the containers go; then the workers end
            workers.join()  # before their logs are written and their folders removed
            if opts.output is not None:
                keep_statement(opts.output, None)  # no metrics, no result to state
                write_failure(
                    opts.output,
                    run.summary(False, None),
                    Kept(dict(run.runner.logs), run.predictions, run.runner.commands),
                )
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
        self.predictions: dict[str, Path] = {}  # each model's, once it has inferred

    def execute(self, source: str, sha: str | None, workers: Workers) -> Outcome:
        results, failed = run_graph(workers, self._jobs(source, sha))
        if failed:
            raise _blame(failed, set(results), self.parts, self.opts)
        metrics_out = main_output(self.parts["evaluator"].cube, "evaluate", file=True)
        metrics = {k: results[f"evaluate {k}"].outputs[metrics_out] for k in self.subjects}
        outcome = Outcome({}, metrics, {}, results["statistics"].outputs.get("output_path"))
        reference = metrics.get("reference_model")
        outcome.summary = self.summary(
            True,
            {
                "candidate": _metrics(metrics["candidate"]),
                "reference": _metrics(reference) if reference is not None else None,
            },
        )
        outcome.logs, outcome.parts = dict(self.runner.logs), dict(self.parts)
        if self.opts.output is not None:
            kept = Kept(outcome.logs, self.predictions, self.runner.commands)
            write_output(
                self.opts.output, outcome.summary, outcome.results, kept, outcome.statistics
            )
            summary = self.opts.output / "summary.json"
            stated = run_statement(summary, outcome.summary, self.parts, self.runner.tree_hash)
            keep_statement(self.opts.output, stated)
        return outcome

    def _jobs(self, source: str, sha: str | None) -> dict[str, Job]:
        """The run's jobs, by priority: the critical path (prepare -> infer -> evaluate)
        first; each starts as soon as its inputs and its image are there."""
        parts, runner = self.parts, self.runner
        jobs = {"dataset": Job((), lambda done: self._dataset(source, sha))}
        image_of: dict[str, str] = {}
        for i, (image, keys) in enumerate(image_groups(parts)):
            jobs[f"image {i}"] = Job((), functools.partial(self._image, image, keys))
            image_of.update({key: f"image {i}" for key in keys})
        prep, ev = parts["data_preparator"], parts["evaluator"]

        def prepare(done: dict[str, Any]) -> StepResult:
            data_path, labels_path = done["dataset"]
            given = {"data_path": data_path, "labels_path": labels_path}
            return runner.run(parts["data_preparator"], "prepare", given)

        def infer(key: str, done: dict[str, Any]) -> StepResult:
            data = done["prepare"].outputs["output_path"]
            result = runner.run(parts[key], "infer", {"data_path": data}, key)
            self.predictions[key] = result.outputs[
                main_output(parts[key].cube, "infer", file=False)
            ]
            return result

        def evaluate(key: str, done: dict[str, Any]) -> StepResult:
            given = {"predictions": self.predictions[key], "labels": _labels(done["prepare"])}
            return runner.run(parts["evaluator"], "evaluate", given, key)

        def prep_task(task: str, done: dict[str, Any]) -> StepResult:
            return runner.run(parts["data_preparator"], task, _common(done["prepare"]))

        jobs["prepare"] = Job(("dataset", image_of[prep.key]), prepare)
        for key in self.subjects:
            # the reference's runs tell whose fault it is when the metrics cube fails on
            # the candidate's predictions: they go on after that failure, and no other
            again = ("evaluate candidate",) if key != "candidate" else ()
            jobs[f"infer {key}"] = Job(
                ("prepare", image_of[key]), functools.partial(infer, key), again
            )
            jobs[f"evaluate {key}"] = Job(
                (f"infer {key}", image_of[ev.key]), functools.partial(evaluate, key), again
            )
        for task in ("sanity_check", "statistics"):
            jobs[task] = Job(("prepare", image_of[prep.key]), functools.partial(prep_task, task))
        return jobs

    @property
    def subjects(self) -> list[str]:
        """The models that infer and are scored: the candidate, and the reference model
        when the run has one."""
        return [key for key in SUBJECTS if key in self.parts]

    def _dataset(self, source: str, sha: str | None) -> tuple[Path, Path]:
        fetched, data_path, labels_path = fetch_dataset(source, sha, self.cache, self.opts)
        self.dataset["sha256"] = fetched.sha256
        return data_path, labels_path

    def _image(self, image: Source, keys: list[str], done: dict[str, Any]) -> None:
        resolve_group(self.parts, image, keys, self.opts)

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
            "cubes": {
                key: self.parts[key].as_summary() if key in self.parts else None
                for key in ("data_preparator", "candidate", "reference_model", "evaluator")
            },
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


def _labels(prepared: StepResult) -> Path:
    return prepared.outputs.get("output_labels_path", prepared.outputs["output_path"])


def _common(prepared: StepResult) -> dict[str, Path]:
    """The inputs of sanity_check and statistics: the prepared data (and metadata)."""
    common = {"data_path": prepared.outputs["output_path"], "labels_path": _labels(prepared)}
    if "metadata_path" in prepared.outputs:
        common["metadata_path"] = prepared.outputs["metadata_path"]
    return common


def _blame(
    failed: dict[str, BaseException],
    succeeded: set[str],
    parts: dict[str, Participant],
    opts: Options,
) -> BaseException:
    """The error to report, saying whose fault it is: when the metrics cube failed on the
    candidate's predictions but scored the reference model's, the candidate's."""
    order = ["dataset", "prepare", "infer candidate", "evaluate candidate"]
    first = next((failed[n] for n in order if n in failed), next(iter(failed.values())))
    if first is failed.get("evaluate candidate") and "evaluate reference_model" in succeeded:
        where = f" (compare the two in {opts.output / 'predictions'})" if opts.output else ""
        rejected = PredictionsRejected(
            f"the metrics cube could not read the candidate's predictions: "
            f"{parts['evaluator'].label} failed on the predictions of {parts['candidate'].label}, "
            f"though it scored those of the reference model {parts['reference_model'].label}"
            f"{where}\n{first}"
        )
        rejected.__cause__ = first
        return rejected
    return first
