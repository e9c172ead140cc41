"""Opening a registry, local or on GitHub, and reading its pull requests as requests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from medperf_action.adapters.github.client import connect
from medperf_action.adapters.github.contents import RepoFiles, default_branch, repository
from medperf_action.adapters.github.pulls import list_pulls
from medperf_action.domain.registry.layout import REMOTE
from medperf_action.domain.registry.reader import LocalSource, Registry
from medperf_action.domain.registry.requests import RequestPull, request_of
from medperf_action.errors import UsageError

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import Github, Repository


def open_registry(
    location: str | Path, token: str | None = None, *, client: Github | None = None
) -> Registry:
    """`--registry PATH` (a local checkout) or `--registry OWNER/REPO[@REF]` (GitHub).

    An existing local folder wins, so `examples/registry` is a path, not a repository.
    A GitHub registry is read with `client` when given (e.g. an anonymous one), else
    with a client for `token`.
    """
    path = Path(location)
    if path.is_dir():
        if not (path / "benchmarks").is_dir() and not (path / "registry.yaml").is_file():
            raise UsageError(f"--registry {location}: not a registry (no benchmarks/)")
        return Registry(LocalSource(path), root=path)
    match = REMOTE.match(str(location))
    if match is None:
        raise UsageError(f"--registry {location}: no such folder, and not OWNER/REPO[@REF]")
    repo = repository(client or connect(token), f"{match.group(1)}/{match.group(2)}")
    return Registry(RepoFiles(repo, match.group(3) or default_branch(repo)))


def github_repo(registry: Registry) -> Repository | None:
    """The repository behind a registry read through GitHub, else None."""
    source = registry.source
    return source.repo if isinstance(source, RepoFiles) else None


def require_github(registry: Registry) -> Repository:
    """The registry's repository: requests are pull requests, so it must be on GitHub."""
    if not isinstance(registry.source, RepoFiles):
        raise UsageError(
            f"--registry {registry.description}: requests are pull requests, so the registry "
            "must be a GitHub repository (OWNER/REPO)"
        )
    return registry.source.repo


def list_requests(repo: Repository, base: str, state: str = "all") -> list[RequestPull]:
    """The requests among the PRs to `base` (the default branch), newest first."""
    return [r for r in map(request_of, list_pulls(repo, base, state)) if r is not None]
