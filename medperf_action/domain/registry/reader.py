"""Reading a registry's files, each validated against its schema before it is used.

A registry is read from a local checkout (`LocalSource`) or, through the GitHub adapter,
from a repository at a ref: anything with `read`, `list_dir` and `description` will do
(`Source`). The rest of the tool works on well-formed data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.domain.registry.layout import (
    SLUG,
    association_path,
    benchmark_path,
    dataset_association_path,
    dataset_path,
    mlcube_path,
    result_path,
)
from medperf_action.domain.validation import validate_file
from medperf_action.domain.yamldoc import load_text, read_text
from medperf_action.errors import RegistryInvalid, YamlError


class Source(Protocol):
    """Read access to a registry's files (a checkout, or a repository at a ref)."""

    @property
    def description(self) -> str: ...

    def read(self, path: str) -> str | None: ...

    def list_dir(self, path: str) -> list[str]: ...


@dataclass
class LocalSource:
    root: Path

    @property
    def description(self) -> str:
        return str(self.root)

    def read(self, path: str) -> str | None:
        file = self.root / path
        if not file.is_file():
            return None
        try:
            return read_text(file)
        except YamlError as exc:
            raise RegistryInvalid(f"{file}: {exc.message}") from None

    def list_dir(self, path: str) -> list[str]:
        folder = self.root / path
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@dataclass
class Registry:
    source: Source
    root: Path | None = None  # a local checkout's folder, for `path:` entries

    @property
    def description(self) -> str:
        return self.source.description

    def _read(self, rel: str, kind: str, text: str | None = None) -> dict[str, Any]:
        if text is None:
            text = self.source.read(rel)
        if text is None:
            raise RegistryInvalid(f"{rel}: not found in the registry {self.description}")
        shown = f"{self.description}/{rel}" if self.root is None else str(self.root / rel)
        validate_file(Path(rel), kind, text=text, shown_as=shown).raise_errors(
            RegistryInvalid, f"{shown} is invalid"
        )
        data = load_text(text).data
        assert isinstance(data, dict)
        return data

    def config(self) -> RegistryConfig:
        text = self.source.read("registry.yaml")
        if text is None:
            return RegistryConfig()
        return RegistryConfig.from_data(self._read("registry.yaml", "registry", text))

    def benchmark(self, benchmark_id: str) -> dict[str, Any]:
        return self._read(benchmark_path(benchmark_id), "benchmark")

    def mlcube(self, mlcube_id: str) -> dict[str, Any]:
        return self._read(mlcube_path(mlcube_id), "mlcube-entry")

    def association(self, benchmark_id: str, mlcube_id: str) -> dict[str, Any] | None:
        return self._find(association_path(benchmark_id, mlcube_id), "association")

    def _find(self, rel: str, kind: str) -> dict[str, Any] | None:
        text = self.source.read(rel)
        return None if text is None else self._read(rel, kind, text)

    def find_dataset(self, dataset_id: str) -> dict[str, Any] | None:
        """`datasets/<id>.yaml` (validated), or None when the dataset is not registered."""
        return self._find(dataset_path(dataset_id), "dataset")

    def dataset_association(self, benchmark_id: str, dataset_id: str) -> dict[str, Any] | None:
        rel = dataset_association_path(benchmark_id, dataset_id)
        return self._find(rel, "dataset-association")

    def pair(self, kind: str, benchmark_id: str, member_id: str) -> dict[str, Any] | None:
        """A pair's file: `association` (benchmark, mlcube) or `dataset-association`
        (benchmark, dataset); None when the default branch does not hold it."""
        if kind == "dataset-association":
            return self.dataset_association(benchmark_id, member_id)
        return self.association(benchmark_id, member_id)

    def approved(self, kind: str, benchmark_id: str, member_id: str) -> bool:
        """Whether the pair's file (`pair`) is on the default branch and APPROVED."""
        found = self.pair(kind, benchmark_id, member_id)
        return found is not None and found["status"] == "APPROVED"

    def find_mlcube(self, mlcube_id: str) -> dict[str, Any] | None:
        """`mlcubes/<id>.yaml` (validated), or None when the mlcube is not registered."""
        return self._find(mlcube_path(mlcube_id), "mlcube-entry")

    def result_ids(self, benchmark_id: str | None = None) -> list[tuple[str, str, str]]:
        """(benchmark, model, dataset) of every `results/B/M/D.yaml` (of one benchmark,
        when given), sorted; names that are not ids are left out (`registry verify` never
        lets one in)."""
        found = []
        benchmarks = [benchmark_id] if benchmark_id else self.source.list_dir("results")
        for bench in filter(SLUG.match, benchmarks):
            for model in filter(SLUG.match, self.source.list_dir(f"results/{bench}")):
                datasets = self._ids(f"results/{bench}/{model}")
                found += [(bench, model, d) for d in datasets if SLUG.match(d)]
        return sorted(found)

    def result(self, benchmark_id: str, model_id: str, dataset_id: str) -> dict[str, Any] | None:
        """`results/B/M/D.yaml`, validated (its ids are those of its place); None when
        there is none."""
        return self._find(result_path(benchmark_id, model_id, dataset_id), "result")

    def has_benchmark(self, benchmark_id: str) -> bool:
        return self.source.read(benchmark_path(benchmark_id)) is not None

    def has_mlcube(self, mlcube_id: str) -> bool:
        return self.source.read(mlcube_path(mlcube_id)) is not None

    def owner_of(self, mlcube_id: str) -> str | None:
        """The owner of a registered mlcube, else None."""
        entry = self.find_mlcube(mlcube_id)
        return None if entry is None else str(entry["owner"])

    def _ids(self, folder: str) -> list[str]:
        return [n[:-5] for n in self.source.list_dir(folder) if n.endswith(".yaml")]

    def benchmark_ids(self) -> list[str]:
        return self._ids("benchmarks")

    def mlcube_ids(self) -> list[str]:
        return self._ids("mlcubes")

    def associated_models(self, benchmark_id: str) -> list[str]:
        """The mlcubes that have an association file with the benchmark (any status)."""
        return self._ids(f"associations/{benchmark_id}")

    def resolve(self, rel: str) -> Path:
        """A path written in a registry file, relative to a local registry's root."""
        if self.root is None:
            raise RegistryInvalid(
                f"{self.description}: a `path:` entry only works in a local registry checkout; "
                "a published registry names URLs with SHA-256"
            )
        return (self.root / rel).resolve()
