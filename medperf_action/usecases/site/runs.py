"""Running the benchmark's cubes on a site's private data, in the sandbox of `test`.

The same steps as the compatibility test (`compat_test.steps.StepRunner`: the sandbox,
the images identified by content, each step cached by what it reads), run as a *private*
run: nothing a container writes is echoed, a failed task's message names its log file
and never quotes it, and every other failure a container causes is told without the
container's words (they go to the run folder's `error.txt`). The step cache and each run's
logs, predictions and metrics stay in the site's store.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.files.atomic import write_text
from medperf_action.domain.registry.pins import pin_of
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.site_files import Ran, new_run_id
from medperf_action.errors import (
    CubeFailed,
    InvalidInput,
    MedperfError,
    TaskFailed,
    TaskMisbehaved,
)
from medperf_action.settings import cache_dir
from medperf_action.text import Log, now_iso
from medperf_action.usecases.compat_test.images import image_groups, resolve_group
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import Participant, from_entry
from medperf_action.usecases.compat_test.steps import StepResult, StepRunner, main_output
from medperf_action.usecases.site.store import Prepared, Store, read_yaml

_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Site:
    """What every site command works with: the registry, the store, the dataset, and how
    containers run (`Options`, made private here whatever the caller gave)."""

    registry: Registry
    store: Store
    dataset_id: str
    opts: Options
    registry_commit: str | None = None

    @property
    def log(self) -> Log:
        return self.opts.log


def private(opts: Options) -> Options:
    """The options of a run on private data: no echo of the containers' output."""
    return dataclasses.replace(opts, private=True, echo=None)


class Run:
    """One run on the site: its id, its folder in the store, its step runner."""

    def __init__(self, site: Site, kind: str, **facts: Any) -> None:
        self.site = site
        self.id = new_run_id()
        self.folder = site.store.new_run(site.dataset_id, self.id)
        self.opts = dataclasses.replace(private(site.opts), output=self.folder)
        self.runner = StepRunner(self.opts, site.store.cache, self.id)
        self.t0 = time.perf_counter()
        self.record: dict[str, Any] = {
            "run_id": self.id,
            "kind": kind,
            "dataset": site.dataset_id,
            **facts,
            "status": "running",
            "started_at": now_iso(),
            "tool": {"name": "medperf-action", "version": __version__},
        }

    def cube(self, cube_id: str, key: str) -> Participant:
        return from_entry(self.site.registry, cube_id, key, cache_dir(), self.opts)

    def with_images(self, parts: dict[str, Participant]) -> dict[str, Participant]:
        found = dict(parts)
        for source, keys in image_groups(found):
            resolve_group(found, source, keys, self.opts)
        return found

    def ran(self, part: Participant) -> Ran:
        """The cube as it ran: its pin when its entry is published (not a local path)."""
        assert part.id is not None and part.image_id is not None
        entry = self.site.registry.mlcube(part.id)
        return Ran(part.id, part.image_id, None if "path" in entry else pin_of(entry))

    def step(
        self, part: Participant, task: str, given: dict[str, Path], subject: str | None = None
    ) -> StepResult:
        try:
            return self.runner.run(part, task, given, subject)
        except TaskFailed:
            raise  # its message names the log file, and quotes nothing
        except CubeFailed as exc:  # its words may quote what the container wrote
            where = self.folder / "error.txt"
            write_text(where, f"{part.label} {task}: {exc}\n")
            raise TaskMisbehaved(
                f"cube '{part.label}', task '{task}' did not write a usable output; why stays "
                f"on this machine: {where}"
            ) from None

    @contextmanager
    def recorded(self) -> Iterator[dict[str, Any]]:
        """The run's record, written last, whatever happens: passed, or failed with the
        tool's own message (never a container's words)."""
        try:
            yield self.record
        except MedperfError as exc:
            self._finish("failed", str(exc))
            raise
        except BaseException:
            self._finish("failed", "interrupted")
            raise
        self._finish("passed", None)

    def _finish(self, status: str, error: str | None) -> None:
        self.keep_logs()
        self.record.update(
            status=status,
            finished_at=now_iso(),
            duration_s=round(time.perf_counter() - self.t0, 3),
        )
        if error is not None:
            self.record["error"] = error
        self.record["tasks"] = self.runner.records
        self.site.store.finish_run(self.folder, self.record)

    def keep_logs(self) -> None:
        """Each task's log in the run's logs/ (a failed one is there already)."""
        for name, log in list(self.runner.logs.items()):
            dest = self.folder / "logs" / f"{name}.log"
            if log.is_file() and not dest.exists():
                shutil.copyfile(log, dest)


@dataclass(frozen=True)
class Scored:
    metrics: dict[str, Any]
    model: Ran
    evaluator: Ran
    timings: dict[str, float]


def score(run: Run, prepared: Prepared, model_id: str, evaluator_id: str) -> Scored:
    """A model's infer on the prepared data, and the evaluator's evaluate of it; the
    predictions and the metrics file are kept in the run's folder."""
    parts = run.with_images(
        {
            "candidate": run.cube(model_id, "candidate"),
            "evaluator": run.cube(evaluator_id, "evaluator"),
        }
    )
    model, evaluator = parts["candidate"], parts["evaluator"]
    inferred = run.step(model, "infer", {"data_path": prepared.data}, "candidate")
    _same_data(inferred, "data_path", prepared.data_sha256, prepared)
    predictions = inferred.outputs[main_output(model.cube, "infer", file=False)]
    shutil.copytree(predictions, run.folder / "predictions", symlinks=True)
    given = {"predictions": predictions, "labels": prepared.labels}
    evaluated = run.step(evaluator, "evaluate", given, "candidate")
    _same_data(evaluated, "labels", prepared.labels_sha256, prepared)
    metrics_file = evaluated.outputs[main_output(evaluator.cube, "evaluate", file=True)]
    shutil.copyfile(metrics_file, run.folder / "metrics.yaml")
    metrics = flat_metrics(read_yaml(run.folder / "metrics.yaml", "the evaluator's metrics"))

    def took(result: StepResult) -> float:
        return 0.0 if result.record["cached"] else float(result.record["duration_s"])

    timings = {
        "infer_s": took(inferred),
        "evaluate_s": took(evaluated),
        "total_s": round(time.perf_counter() - run.t0, 3),
    }
    return Scored(metrics, run.ran(model), run.ran(evaluator), timings)


def _same_data(step: StepResult, name: str, prepared_sha256: str, prepared: Prepared) -> None:
    """What a result states it ran on is what the task read: the tree hash the step
    computed of its input, not the one `dataset prepare` recorded. Prepared data changed
    in the store since (by hand, or by a disk fault) is refused, not scored."""
    read = step.record["inputs"].get(name)
    if read != prepared_sha256:
        raise InvalidInput(
            f"the prepared {'labels' if name == 'labels' else 'data'} of {prepared.dataset_id} "
            f"in the store changed since `dataset prepare` (its tree hash is now "
            f"{str(read)[:12]}, it was {prepared_sha256[:12]}): prepare the dataset again "
            f"({prepared.folder})"
        )


def flat_metrics(data: Any) -> dict[str, Any]:
    """The evaluator's metrics: a non-empty mapping of scalars."""
    if not isinstance(data, dict) or not data:
        raise TaskMisbehaved("the evaluator's metrics are not a mapping of metrics")
    if any(not isinstance(v, _SCALARS) for v in data.values()):
        raise TaskMisbehaved("the evaluator's metrics must be scalars (a number each)")
    return {str(k): v for k, v in data.items()}
