"""A model repository's `.medperf.yml`: found once, validated, read by every command.

Inside a model repository every command takes its defaults from here: the registry, the
benchmarks, the MLCube's folder, its registry id, name and role. An option always wins;
for the registry `$MEDPERF_REGISTRY` comes between the option and the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.domain.validation import Report, validate_file
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import UsageError
from medperf_action.settings import in_actions

NAMES = (".medperf.yml", ".medperf.yaml")


def find_config(root: Path = Path(), names: tuple[str, ...] = NAMES) -> Path | None:
    """`.medperf.yml` (or `.medperf.yaml`; or one of `names`) in `root`, if there is one."""
    for name in names:
        if (root / name).is_file():
            return root / name
    return None


def find_config_above(start: Path = Path(), names: tuple[str, ...] = NAMES) -> Path | None:
    """The `.medperf.yml` of the repository `start` is in: in `start` or the nearest folder
    above it, not looking past the top of a git repository (a folder holding `.git`)."""
    here = Path(os.path.abspath(start))
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        found = find_config(folder, names)
        if found is not None:
            return found
        if (folder / ".git").exists():
            return None
    return None


def check_config(path: Path) -> Report:
    """The findings of `.medperf.yml` at `path` against its schema."""
    return validate_file(path, "model-repo")


def load_repo_config(path: Path | None = None, root: Path = Path()) -> dict[str, Any]:
    """`path`, else the `.medperf.yml` in `root`, validated; {} when there is none."""
    if path is None:
        path = find_config(root)
        if path is None:
            return {}
    return _load(path)


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    check_config(path).raise_errors(UsageError, f"{path} is invalid")
    data = load_file(path).data
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class RepoDefaults:
    """What `.medperf.yml` says, for the options a command was not given."""

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path | None:
        """The repository's folder (where `.medperf.yml` is)."""
        return self.path.parent if self.path is not None else None

    @property
    def mlcube_id(self) -> str | None:
        return _text(self.data.get("id"))

    @property
    def name(self) -> str | None:
        return _text(self.data.get("name"))

    @property
    def role(self) -> str | None:
        """The MLCube's role: `role`, else model (the schema's default) in a model repo."""
        if self.path is None:
            return None
        return _text(self.data.get("role")) or "model"

    @property
    def benchmarks(self) -> list[str]:
        return [str(b) for b in self.data.get("benchmarks") or []]

    @property
    def mlcube_dir(self) -> Path | None:
        """The MLCube's folder, relative to the current folder when it is below it."""
        if self.root is None:
            return None
        return _near(self.root / str(self.data.get("mlcube") or "mlcube"))

    def is_mlcube(self, path: Path) -> bool:
        """Whether `path` (a folder or a manifest in it) is this repository's MLCube."""
        folder = self.mlcube_dir
        if folder is None:
            return False
        target = Path(os.path.abspath(path))
        if target.is_file() or target.suffix in (".yaml", ".yml"):
            target = target.parent
        return os.path.realpath(target) == os.path.realpath(folder)

    def registry(self, given: str | None, *, this_repo: bool = False) -> str | None:
        """The registry: the option, `$MEDPERF_REGISTRY`, `.medperf.yml`'s `registry`
        (a local path in it is relative to the repository), and with `this_repo`, under
        GitHub Actions, the workflow's own repository (a registry's own workflows)."""
        location = given or os.environ.get("MEDPERF_REGISTRY") or None
        if location is None and self.root is not None:
            value = _text(self.data.get("registry"))
            if value is not None:
                local = self.root / value
                location = str(_near(local)) if local.is_dir() else value
        if location is None and this_repo and in_actions():
            location = os.environ.get("GITHUB_REPOSITORY") or None
        return location

    def need_registry(self, given: str | None, *, this_repo: bool = False) -> str:
        location = self.registry(given, this_repo=this_repo)
        if location is None:
            raise UsageError(
                "no registry: pass --registry PATH|OWNER/REPO[@REF], set $MEDPERF_REGISTRY, "
                "or run inside a model repository whose .medperf.yml names one"
            )
        return location

    def benchmark(self, given: str | None) -> str | None:
        """The option, else the benchmark `.medperf.yml` names when it names one; with
        several, the option is needed (a UsageError that lists them)."""
        if given:
            return given
        names = self.benchmarks
        if len(names) > 1:
            raise UsageError(
                f"{self.path} names {len(names)} benchmarks ({', '.join(names)}): "
                "pass --benchmark ID to choose one"
            )
        return names[0] if names else None


def repo_defaults(config: Path | None = None, start: Path = Path()) -> RepoDefaults:
    """The defaults of `--config FILE`, else of the `.medperf.yml` of the repository
    `start` is in (see `find_config_above`); none outside a model repository."""
    path = config if config is not None else find_config_above(start)
    if path is None:
        return RepoDefaults()
    return RepoDefaults(path, _load(path))


def registry_for(given: str | None, *, this_repo: bool = False) -> str:
    """The registry a command reads, as `RepoDefaults.need_registry` says; `.medperf.yml`
    is read only when neither the option nor `$MEDPERF_REGISTRY` names it (so a broken
    file does not stop a command that was told where to look)."""
    if given or os.environ.get("MEDPERF_REGISTRY"):
        return RepoDefaults().need_registry(given, this_repo=this_repo)
    return repo_defaults().need_registry(None, this_repo=this_repo)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _near(path: Path) -> Path:
    """`path` relative to the current folder when it is below it (shorter in messages)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd())
    except ValueError:
        return absolute
