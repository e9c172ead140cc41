"""What `validate` and `package` check: a cube with the role its repository gives it,
and at a repository's root the repository's `.medperf.yml` too.

The role comes from `--role`, else from the `role` of the `.medperf.yml` of the
repository the cube is in (when the cube is that file's `mlcube`), else from the tasks.
A known role is applied, so a misspelt task is an error, not a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medperf_action.domain.cube import ROLES, find_manifest
from medperf_action.domain.validation import Report, display, validate_path
from medperf_action.domain.validation.report import Checker, in_file_order
from medperf_action.usecases.repo_config import find_config, find_config_above, repo_defaults


@dataclass
class Checked:
    report: Report
    #: What was checked, as the verdict line names it.
    target: str


def validate_target(
    path: Path | None,
    *,
    kind: str | None = None,
    role: str | None = None,
    manifest_only: bool = False,
    config: Path | None = None,
) -> Checked:
    """Validate PATH (default: the repository the current folder is in, else the current
    folder). A model repository's root means its `.medperf.yml` and its MLCube."""
    start = path if path is not None else Path()
    if kind is None and start.is_dir() and _is_repo_root(start, config):
        return _repository(start, config, role, manifest_only)
    report = validate_path(start, kind, cube_role(start, role, config), manifest_only)
    return Checked(report, report.files[0] if report.files else display(start))


def cube_role(path: Path, role: str | None, config: Path | None = None) -> str | None:
    """--role, else the role of the repository's `.medperf.yml` when `path` is its MLCube."""
    if role is not None:
        return role
    if path.is_file() and path.name not in ("mlcube.yaml", "container_config.yaml"):
        return None
    repo = repo_defaults(config, start=path)
    return repo.role if repo.is_mlcube(path) else None


def _is_repo_root(folder: Path, config: Path | None) -> bool:
    """A folder holding `.medperf.yml` (or the folder of `--config`)."""
    if config is not None:
        return Path(folder).resolve() == config.resolve().parent
    return find_config(folder) is not None


def _repository(root: Path, config: Path | None, role: str | None, manifest_only: bool) -> Checked:
    path = config or find_config(root) or find_config_above(root)
    assert path is not None
    report = Report(kind="model-repo")
    check = Checker(path, report)
    data = check.load("model-repo")
    if not isinstance(data, dict) or any(f.key == "mlcube" for f in report.errors):
        return Checked(in_file_order(report), display(path))
    # the MLCube is checked even when the settings have errors: both are reported
    folder = path.parent / str(data.get("mlcube") or "mlcube")
    if find_manifest(folder) is None:
        check.error(
            "missing-file",
            ("mlcube",) if "mlcube" in data else (),
            "no MLCube at this path",
            value=str(data.get("mlcube") or "mlcube"),
            expected="a folder (relative to the repository) holding mlcube.yaml, "
            "mlcube/mlcube.yaml or container_config.yaml",
        )
        return Checked(in_file_order(report), display(path))
    given = data.get("role")
    cube = validate_path(
        folder, role=role or (given if given in ROLES else "model"), manifest_only=manifest_only
    )
    cube.findings[:0] = report.findings
    cube.files[:0] = report.files
    return Checked(in_file_order(cube), f"{display(path)} and {cube.files[1]}")
