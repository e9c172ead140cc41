"""Reading a registry: `registry.yaml`, `benchmarks/<id>.yaml`, `mlcubes/<id>.yaml`.

This module reads a local checkout (`--registry PATH`). Every file read is validated
against its schema first, so the rest of the tool works on well-formed data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.errors import MedperfError, UsageError

DEFAULT_LABELS = {
    "pending": "medperf/pending",
    "approved": "medperf/approved",
    "rejected": "medperf/rejected",
    "verified": "medperf/verified",
    "verification_failed": "medperf/verification-failed",
}


class RegistryError(MedperfError):
    """A registry file that is missing or invalid."""


@dataclass
class LocalRegistry:
    root: Path

    @classmethod
    def open(cls, location: str | Path) -> LocalRegistry:
        root = Path(location)
        if not root.is_dir():
            raise UsageError(f"--registry {location}: no such directory")
        if not (root / "benchmarks").is_dir() and not (root / "registry.yaml").is_file():
            raise UsageError(f"--registry {location}: not a registry (no benchmarks/)")
        return cls(root)

    def _read(self, rel: str, kind: str) -> dict[str, Any]:
        from medperf_action.validate import validate_file
        from medperf_action.yamlload import load_file

        path = self.root / rel
        if not path.is_file():
            raise RegistryError(f"{path}: not found in the registry")
        report = validate_file(path, kind)
        if report.errors:
            raise RegistryError(
                f"{path} is invalid:\n" + "\n".join(f.text() for f in report.errors)
            )
        data = load_file(path).data
        assert isinstance(data, dict)
        return data

    def config(self) -> dict[str, Any]:
        if not (self.root / "registry.yaml").is_file():
            return {}
        return self._read("registry.yaml", "registry")

    def benchmark(self, benchmark_id: str) -> dict[str, Any]:
        return self._read(f"benchmarks/{benchmark_id}.yaml", "benchmark")

    def mlcube(self, mlcube_id: str) -> dict[str, Any]:
        return self._read(f"mlcubes/{mlcube_id}.yaml", "mlcube-entry")

    def resolve(self, rel: str) -> Path:
        """A path written in a registry file, relative to the registry root."""
        return (self.root / rel).resolve()

    def benchmark_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "benchmarks").glob("*.yaml"))
