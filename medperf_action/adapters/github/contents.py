"""A repository's files at one ref, read through the contents API, and commits of one file;
the commit a ref names and where GitHub serves that commit's archive (for snapshots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medperf_action.adapters.github.client import call, errors
from medperf_action.errors import GitHubError, InvalidInput

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository


def repository(gh: Github, name: str) -> Repository:
    """OWNER/REPO (lazily: nothing is read until something of it is asked for)."""
    return gh.get_repo(name)


def default_branch(repo: Repository) -> str:
    return str(call(f"read {repo.full_name}", lambda: repo.default_branch))


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str  # the SHA of the commit's root tree


def commit_of(repo: Repository, ref: str) -> CommitInfo:
    """The commit a branch, tag or SHA names now, with its tree's SHA: one call."""

    def ask() -> CommitInfo:
        # raw_data: the answer itself (a lazy Commit takes its `sha` from the URL, the ref)
        data = repo.get_commit(ref).raw_data
        return CommitInfo(str(data["sha"]), str(data["commit"]["tree"]["sha"]))

    return call(f"find the commit of {ref} in {repo.full_name}", ask)


def archive_link(repo: Repository, sha: str) -> str:
    """Where GitHub serves the tarball of commit `sha` (GET .../tarball/{sha} answers 302
    to it; a private repository's link carries a short-lived token): one call."""
    return str(
        call(
            f"find the archive of {repo.full_name}@{sha[:12]}",
            lambda: repo.get_archive_link("tarball", sha),
        )
    )


@dataclass
class RepoFiles:
    """A repository's files at one ref. Each path is read once (a command reads
    registry.yaml and the entries from several places); nothing writes through it."""

    repo: Repository
    ref: str
    _files: dict[str, str | None] = field(default_factory=dict, repr=False)
    _dirs: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def description(self) -> str:
        return f"{self.repo.full_name}@{self.ref}"

    def read(self, path: str) -> str | None:
        """The file's text, or None when there is no file at `path`."""
        if path not in self._files:
            self._files[path] = self._read(path)
        return self._files[path]

    def list_dir(self, path: str) -> list[str]:
        """The names in the folder `path`, sorted; [] when there is none."""
        if path not in self._dirs:
            self._dirs[path] = self._list_dir(path)
        return self._dirs[path]

    def _read(self, path: str) -> str | None:
        found = _contents(self.repo, path, self.ref, f"{self.description}: read {path}")
        if found is None or isinstance(found, list):
            return None
        return _text(found, f"{self.description}: {path}")

    def _list_dir(self, path: str) -> list[str]:
        found = _contents(self.repo, path, self.ref, f"{self.description}: list {path}")
        return sorted(i.name for i in found) if isinstance(found, list) else []


def _contents(repo: Repository, path: str, ref: str, action: str) -> Any:
    """A file (ContentFile), a folder (a list of them), or None when nothing is there."""
    try:
        return call(action, lambda: repo.get_contents(path, ref=ref))
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise


def _text(item: Any, where: str) -> str:
    try:
        return str(item.decoded_content.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{where} is not UTF-8 text") from None


@dataclass(frozen=True)
class FileAtRef:
    text: str
    sha: str  # the blob's SHA, which an update must name


def read_file(repo: Repository, path: str, ref: str) -> FileAtRef | None:
    """A file with its blob SHA (for an update), fresh from GitHub; None when absent or a
    folder."""
    found = _contents(repo, path, ref, f"read {path} on {ref}")
    if found is None or isinstance(found, list):
        return None
    return FileAtRef(_text(found, f"{path} on {ref}"), str(found.sha))


def update_file(repo: Repository, path: str, message: str, text: str, sha: str, branch: str) -> str:
    """Commit `text` as `path` on `branch`, replacing the blob `sha`; the commit's SHA.

    A GitHubError with status 409 or 422 means the file changed since it was read.
    """
    with errors(f"commit {path} on {branch}"):
        result = repo.update_file(path, message, text, sha, branch=branch)
    return str(result["commit"].sha)
