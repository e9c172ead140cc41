"""A site's local dataset store: what its commands keep on the site's disk, never uploaded.

```
$MEDPERF_ACTION_STORE/                    (default ~/.medperf-action/store)
  .cache/                                 the step cache of the site's runs
  <dataset>/
    dataset/                              replaced as a whole by `dataset prepare`
      data/  labels/                      the prepared data and labels
      statistics.yaml                     the preparator's statistics
      entry.json                          the dataset entry to register (without owner)
      prepare.json                        which benchmark and preparator made it
    runs/<run-id>/                        one run each (12 hex): prepare, associate, run
      logs/                               every task's log (the containers' output)
      predictions/                        the model's predictions
      metrics.yaml                        the evaluator's file
      result.yaml                         a benchmark run's result file, ready to submit
      run.json                            written last: a run folder without it is not one
```

Every file is written whole or not at all (`adapters/files/atomic`): the dataset folder is
built beside its place and swapped in, and a run counts only once its `run.json` is there.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.atomic import replace_directory, write_json
from medperf_action.domain.registry.site_files import RUN_ID
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import InvalidInput, TaskMisbehaved, UsageError, YamlError
from medperf_action.settings import store_dir


@dataclass(frozen=True)
class Store:
    root: Path

    @classmethod
    def open(cls, root: Path | None = None) -> Store:
        return cls(root or store_dir())

    @property
    def cache(self) -> Path:
        """The step cache of the site's runs (prepared data and predictions included)."""
        return self.root / ".cache"

    def dataset_dir(self, dataset_id: str) -> Path:
        return self.root / dataset_id / "dataset"

    def runs_dir(self, dataset_id: str) -> Path:
        return self.root / dataset_id / "runs"

    # -- the prepared dataset ---------------------------------------------------------

    def new_dataset_dir(self, dataset_id: str) -> Path:
        """An empty folder beside the dataset's place, to build a new one in."""
        base = self.root / dataset_id
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f".tmp-dataset-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return tmp

    def put_dataset(self, dataset_id: str, built: Path) -> Path:
        """Swap the folder `built` in as the dataset's prepared data."""
        dest = self.dataset_dir(dataset_id)
        replace_directory(built, dest)
        return dest

    def prepared(self, dataset_id: str) -> Prepared:
        """The dataset as `dataset prepare` left it; a UsageError when it did not yet."""
        folder = self.dataset_dir(dataset_id)
        if not (folder / "entry.json").is_file():
            raise UsageError(
                f"dataset {dataset_id} is not prepared on this machine (no {folder}): run "
                "`medperf-action dataset prepare` first"
            )
        entry = _json(folder / "entry.json")
        info = _json(folder / "prepare.json")
        return Prepared(dataset_id, folder, entry, info)

    # -- runs ---------------------------------------------------------------------------

    def new_run(self, dataset_id: str, run_id: str) -> Path:
        folder = self.runs_dir(dataset_id) / run_id
        (folder / "logs").mkdir(parents=True)
        return folder

    def finish_run(self, folder: Path, record: dict[str, Any]) -> None:
        """Write the run's record last: from then on it is a run of the store."""
        write_json(folder / "run.json", record)

    def runs(self, dataset_id: str | None = None) -> list[dict[str, Any]]:
        """Every finished run (its run.json), of one dataset or of all, oldest first."""
        datasets = [dataset_id] if dataset_id else self.dataset_ids()
        found = [
            _json(folder / "run.json")
            for ds in datasets
            if self.runs_dir(ds).is_dir()
            for folder in self.runs_dir(ds).iterdir()
            if RUN_ID.match(folder.name) and (folder / "run.json").is_file()
        ]
        return sorted(found, key=lambda r: (str(r.get("started_at")), str(r.get("run_id"))))

    def run_folder(self, run_id: str) -> Path:
        """The folder of the run `run_id`, whichever dataset it is of."""
        if not RUN_ID.match(run_id):
            raise UsageError(f"{run_id!r} is not a run id (12 lower-case hex digits)")
        for ds in self.dataset_ids():
            folder = self.runs_dir(ds) / run_id
            if (folder / "run.json").is_file():
                return folder
        raise UsageError(f"no run {run_id} in the store {self.root} (see `result ls --local`)")

    def dataset_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / "runs").is_dir())


@dataclass(frozen=True)
class Prepared:
    """A prepared dataset in the store."""

    dataset_id: str
    folder: Path
    entry: dict[str, Any]  # the dataset entry, without its owner
    info: dict[str, Any]  # benchmark, data_preparator, its image

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def labels(self) -> Path:
        return self.folder / "labels"

    @property
    def data_sha256(self) -> str:
        return str(self.entry["prepared"]["data_sha256"])

    @property
    def labels_sha256(self) -> str:
        return str(self.entry["prepared"]["labels_sha256"])

    @property
    def num_cases(self) -> int:
        return int(self.entry["prepared"]["num_cases"])


def copy_into(source: Path, dest: Path) -> None:
    """A task's output (a folder or a file) copied to `dest`."""
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def read_yaml(path: Path, what: str) -> Any:
    """A task's YAML output. Its error never quotes the file: it may hold the data."""
    try:
        return load_file(path).data
    except YamlError:
        raise TaskMisbehaved(
            f"{what} is not valid YAML; it stays on this machine: {path}"
        ) from None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc}); the store is damaged") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: not a JSON object; the store is damaged")
    return data
