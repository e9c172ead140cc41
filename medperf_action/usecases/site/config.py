"""A data owner's `.medperf-site.yml`: the defaults of the site's commands.

Found as `.medperf.yml` is (the current folder, else the nearest folder above it, never
past the top of a git repository), validated against `schemas/site-repo.schema.json`. An
option always wins; for the registry `$MEDPERF_REGISTRY` comes between the option and the
file. The data's paths are never here: they come from options or the runner's environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.domain.validation import validate_file
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import UsageError
from medperf_action.usecases.repo_config import find_config_above

NAMES = (".medperf-site.yml", ".medperf-site.yaml")


@dataclass(frozen=True)
class SiteDefaults:
    """What `.medperf-site.yml` says, for the options a command was not given."""

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> dict[str, Any]:
        found = self.data.get("dataset")
        return dict(found) if isinstance(found, dict) else {}

    @property
    def benchmarks(self) -> list[str]:
        return [str(b) for b in self.data.get("benchmarks") or []]

    def registry(self, given: str | None) -> str:
        """The option, `$MEDPERF_REGISTRY`, the file's `registry` (a local path in it is
        relative to the site's repository)."""
        location = given or os.environ.get("MEDPERF_REGISTRY") or None
        if location is None and self.path is not None:
            value = str(self.data.get("registry") or "")
            local = self.path.parent / value
            location = str(local) if value and local.is_dir() else value or None
        if location is None:
            raise UsageError(
                "no registry: pass --registry PATH|OWNER/REPO[@REF], set $MEDPERF_REGISTRY, "
                "or run inside a site repository whose .medperf-site.yml names one"
            )
        return location

    def dataset_id(self, given: str | None) -> str:
        found = given or self.dataset.get("id")
        if not found:
            raise UsageError(
                "which dataset? pass --dataset ID, or run inside a site repository "
                "(.medperf-site.yml names it)"
            )
        return str(found)

    def site_dataset(self, dataset_id: str, name: str | None) -> dict[str, Any]:
        """The dataset's id, name, description and location, for its registry entry."""
        info = self.dataset if self.dataset.get("id") == dataset_id else {}
        info = {**info, "id": dataset_id, "name": name or info.get("name") or dataset_id}
        return info

    def benchmark(self, given: str | None) -> str:
        """The option, else the one benchmark the file names (several: the option)."""
        if given:
            return given
        names = self.benchmarks
        if len(names) == 1:
            return names[0]
        if not names:
            raise UsageError("which benchmark? pass --benchmark ID")
        raise UsageError(
            f"{self.path} names {len(names)} benchmarks ({', '.join(names)}): pass "
            "--benchmark ID to choose one"
        )

    def benchmark_list(self, given: str | None) -> list[str]:
        """The option, else every benchmark the file names."""
        if given:
            return [given]
        if not self.benchmarks:
            raise UsageError("which benchmark? pass --benchmark ID")
        return self.benchmarks


def site_defaults(config: Path | None = None, start: Path = Path()) -> SiteDefaults:
    """The defaults of `--config FILE`, else of the `.medperf-site.yml` of the repository
    `start` is in; none outside a site repository."""
    path = config if config is not None else find_config_above(start, NAMES)
    if path is None:
        return SiteDefaults()
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    validate_file(path, "site-repo").raise_errors(UsageError, f"{path} is invalid")
    data = load_file(path).data
    return SiteDefaults(path, data if isinstance(data, dict) else {})
