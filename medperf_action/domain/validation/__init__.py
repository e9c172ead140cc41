"""Validation: schema checks plus MedPerf's rules, every finding with its position.

Every finding names the file, line and column, the key path, the offending value and what
was expected. All findings are reported, not only the first. `validate_path` recognises
what a path is; `cubes` holds the MLCube rules, `registry_files` the registry's.
"""

from __future__ import annotations

from pathlib import Path

from medperf_action.domain.cube import ROLES, find_manifest
from medperf_action.domain.schemas import SCHEMA_FILES
from medperf_action.domain.validation.cubes import inside, validate_cube_manifest
from medperf_action.domain.validation.registry_files import validate_file, validate_registry
from medperf_action.domain.validation.report import Report, display
from medperf_action.errors import UsageError

__all__ = ["KINDS", "Report", "detect_kind", "display", "inside", "validate_file", "validate_path"]

KINDS = tuple(SCHEMA_FILES)


def detect_kind(path: Path) -> str:
    name = path.name
    parent = path.parent.name
    if name == "mlcube.yaml":
        return "mlcube"
    if name == "container_config.yaml":
        return "container-config"
    if name == "parameters.yaml":
        return "parameters"
    if name == "registry.yaml":
        return "registry"
    if name in (".medperf.yml", ".medperf.yaml"):
        return "model-repo"
    if name in (".medperf-site.yml", ".medperf-site.yaml"):
        return "site-repo"
    if name == "summary.json":
        return "summary"
    if path.suffix in (".yaml", ".yml"):
        if parent == "benchmarks":
            return "benchmark"
        if parent == "mlcubes":
            return "mlcube-entry"
        if path.parent.parent.name == "associations":
            return "association"
    raise UsageError(
        f"cannot tell what kind of file {display(path)} is; pass --kind ({', '.join(KINDS)})"
    )


def validate_path(
    path: Path,
    kind: str | None = None,
    role: str | None = None,
    manifest_only: bool = False,
) -> Report:
    """Validate what PATH is: an MLCube directory, a manifest, or a registry/config file."""
    if role is not None and role not in ROLES:
        raise UsageError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not path.exists():
        raise UsageError(f"no such file or directory: {display(path)}")
    if path.is_dir():
        if kind is None and (path / "registry.yaml").is_file():
            return validate_registry(path)
        manifest = find_manifest(path)
        if manifest is None:
            raise UsageError(
                f"{display(path)} holds no mlcube.yaml, mlcube/mlcube.yaml, "
                "container_config.yaml or registry.yaml"
            )
        path = manifest
    if kind is None:
        kind = detect_kind(path)
    elif kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind in ("mlcube", "container-config"):
        return validate_cube_manifest(path, kind, role, manifest_only)
    return validate_file(path, kind)
