"""Opening a registry, local or on GitHub, and reading its pull requests as requests.

A GitHub registry is read file by file through the contents API (`RepoFiles`: a call
per file, for the commands that read a few), or as one snapshot of its commit
(`GitHubSnapshot`: the ref resolved to a commit in one call, that commit's tarball
downloaded once and kept in the cache by its SHA, `adapters/files/snapshot`), for the
commands that read the whole registry: the listings and `registry verify`. A snapshot
costs two calls the first time and one (the ref's commit) while the ref does not move,
whatever the registry's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_action.adapters.files.snapshot import Snapshot, open_snapshot
from medperf_action.adapters.github.client import connect, is_status
from medperf_action.adapters.github.contents import (
    RepoFiles,
    archive_link,
    commit_of,
    default_branch,
    repository,
)
from medperf_action.adapters.github.pulls import list_pulls
from medperf_action.domain.registry.layout import REMOTE
from medperf_action.domain.registry.reader import LocalSource, Registry
from medperf_action.domain.registry.requests import RequestPull, request_of
from medperf_action.errors import GitHubError, SnapshotMismatch, UsageError

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import Github, Repository


@dataclass
class GitHubSnapshot:
    """A GitHub registry at one commit, read from its cached snapshot."""

    repo: Repository
    ref: str  # as asked for (a branch, tag or SHA): how the registry is shown
    commit: str
    files: Snapshot | RepoFiles  # RepoFiles at the commit when no archive matches it

    @property
    def description(self) -> str:
        return f"{self.repo.full_name}@{self.ref}"

    def read(self, path: str) -> str | None:
        return self.files.read(path)

    def list_dir(self, path: str) -> list[str]:
        return self.files.list_dir(path)


def snapshot_of(repo: Repository, ref: str, *, shown_as_commit: bool = False) -> GitHubSnapshot:
    """The registry in `repo` at the commit `ref` names now (one call), from the cache, or
    downloaded (one more call) and cached. With `shown_as_commit`, it is described by the
    commit's SHA rather than by `ref`."""
    try:
        commit = commit_of(repo, ref)
    except GitHubError as exc:
        if is_status(exc, 404) or is_status(exc, 422):
            raise UsageError(
                f"--registry {repo.full_name}@{ref}: no branch, tag or commit {ref!r} there"
            ) from None
        raise
    shown = commit.sha if shown_as_commit else ref
    files: Snapshot | RepoFiles
    try:
        files = open_snapshot(
            commit.sha,
            commit.tree,
            lambda: archive_link(repo, commit.sha),
            label=f"{repo.full_name}@{shown}",
        )
    except SnapshotMismatch:
        # An archive that is not the commit's tree (.gitattributes export rules, a
        # submodule): the same commit, read file by file through the API instead.
        files = RepoFiles(repo, commit.sha)
    return GitHubSnapshot(repo, shown, commit.sha, files)


def open_registry(
    location: str | Path,
    token: str | None = None,
    *,
    client: Github | None = None,
    snapshot: bool = False,
) -> Registry:
    """`--registry PATH` (a local checkout) or `--registry OWNER/REPO[@REF]` (GitHub).

    An existing local folder wins, so `examples/registry` is a path, not a repository.
    A GitHub registry is read with `client` when given (e.g. an anonymous one), else
    with a client for `token`; with `snapshot`, as one cached snapshot of its commit.
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
    ref = match.group(3) or default_branch(repo)
    return Registry(snapshot_of(repo, ref) if snapshot else RepoFiles(repo, ref))


def github_repo(registry: Registry) -> Repository | None:
    """The repository behind a registry read through GitHub, else None."""
    source = registry.source
    return source.repo if isinstance(source, (RepoFiles, GitHubSnapshot)) else None


def require_github(registry: Registry) -> Repository:
    """The registry's repository: requests are pull requests, so it must be on GitHub."""
    if not isinstance(registry.source, (RepoFiles, GitHubSnapshot)):
        raise UsageError(
            f"--registry {registry.description}: requests are pull requests, so the registry "
            "must be a GitHub repository (OWNER/REPO)"
        )
    return registry.source.repo


def list_requests(repo: Repository, base: str, state: str = "all") -> list[RequestPull]:
    """The requests among the PRs to `base` (the default branch), newest first."""
    return [r for r in map(request_of, list_pulls(repo, base, state)) if r is not None]
