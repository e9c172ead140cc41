"""The registry as its own workflows see it: the repository, its default branch, its
settings (registry.yaml on the default branch) and the identity the token acts as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from medperf_action.adapters.github.client import connect, whoami
from medperf_action.adapters.github.contents import RepoFiles, default_branch, repository
from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.domain.registry.layout import REPO_NAME
from medperf_action.domain.registry.reader import Registry
from medperf_action.errors import UsageError
from medperf_action.settings import this_repository

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import Github, Repository


def check_repo_name(name: str | None, option: str = "--registry") -> str:
    """OWNER/REPO from the option, else $GITHUB_REPOSITORY; a UsageError if neither fits."""
    name = this_repository(name)
    if not name:
        raise UsageError(f"{option} OWNER/REPO is needed (or $GITHUB_REPOSITORY)")
    if not REPO_NAME.match(name):
        raise UsageError(f"{option} {name}: not OWNER/REPO")
    return name


@dataclass
class Context:
    gh: Github
    repo: Repository
    name: str
    default_branch: str
    base: Registry  # the registry's files on its default branch
    config: RegistryConfig
    me: str | None = None

    def identity(self) -> str:
        """The login the token acts as (only its own comments are trusted)."""
        if self.me is None:
            self.me = whoami(self.gh, actions_fallback=True)
        return self.me


def open_context(name: str, token: str | None, branch: str | None = None) -> Context:
    gh = connect(token)
    repo = repository(gh, name)
    branch = branch or default_branch(repo)
    base = Registry(RepoFiles(repo, branch))
    return Context(gh, repo, name, branch, base, base.config())
