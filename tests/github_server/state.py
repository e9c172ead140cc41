"""What the GitHub test server knows: users and organisations, teams, repositories with
their refs, issues and pull requests, labels, comments, releases and assets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .git import ObjectStore, now

# Repository roles, weakest first, and what a team's permission name means.
ROLES = ("none", "read", "triage", "write", "maintain", "admin")
TEAM_PERMISSIONS = {"pull": "read", "triage": "triage", "push": "write"}
TEAM_PERMISSIONS.update({"maintain": "maintain", "admin": "admin"})


def role_at_least(role: str, wanted: str) -> bool:
    return ROLES.index(role) >= ROLES.index(wanted)


@dataclass
class User:
    id: int
    login: str
    name: str | None
    email: str | None
    type: str = "User"  # or "Organization"
    created_at: datetime = field(default_factory=now)
    # organisations only: member login -> "admin" or "member"
    members: dict[str, str] = field(default_factory=dict)


@dataclass
class Team:
    id: int
    org: str
    slug: str
    name: str
    description: str | None
    members: dict[str, str] = field(default_factory=dict)  # login -> member | maintainer
    repos: dict[str, str] = field(default_factory=dict)  # full name (lower) -> pull|push|...


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class Pull:
    id: int
    head_repo: str  # full name
    head_ref: str  # branch name
    head_sha: str  # the head's tip, kept up to date while the branch exists
    base_ref: str
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class Issue:
    """An issue, or the issue side of a pull request (they share numbers, as on GitHub)."""

    id: int
    number: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    closed_by: str | None = None
    pull: Pull | None = None


@dataclass
class Asset:
    id: int
    release_id: int
    name: str
    label: str | None
    content_type: str
    size: int
    sha256: str | None
    uploader: str
    path: Path | None  # the bytes, on disk
    state: str = "uploaded"
    download_count: int = 0
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class Release:
    id: int
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    author: str
    created_at: datetime = field(default_factory=now)
    published_at: datetime | None = None
    assets: dict[int, Asset] = field(default_factory=dict)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    description: str | None
    private: bool
    default_branch: str
    parent: str | None = None  # full name of the repository this is a fork of
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit sha
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # lower-case name -> label
    comments: dict[int, Comment] = field(default_factory=dict)
    releases: dict[int, Release] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    pushed_at: datetime = field(default_factory=now)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def key(self) -> str:
        return self.full_name.lower()

    def branches(self) -> dict[str, str]:
        return {
            r.removeprefix("refs/heads/"): s
            for r, s in self.refs.items()
            if r.startswith("refs/heads/")
        }

    def pulls(self) -> list[Issue]:
        return [i for i in self.issues.values() if i.pull is not None]


@dataclass
class World:
    """All of the server's state. Guarded by the server's lock."""

    storage: Path
    git: ObjectStore = field(default_factory=ObjectStore)
    users: dict[str, User] = field(default_factory=dict)  # lower-case login -> user or org
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    teams: dict[tuple[str, str], Team] = field(default_factory=dict)  # (org, slug), lower-case
    repos: dict[str, Repo] = field(default_factory=dict)  # lower-case full name -> repo
    #: Logins whose tokens cannot see team memberships (as GITHUB_TOKEN cannot): GitHub
    #: answers them 404, whether or not the user is a member.
    team_blind: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))

    def new_id(self) -> int:
        return next(self._ids)

    def user(self, login: str) -> User | None:
        return self.users.get(login.lower())

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def role(self, repo: Repo, login: str | None) -> str:
        """The strongest role `login` has on `repo` (anonymous: read on public repos)."""
        roles = ["read" if not repo.private else "none"]
        if login is not None:
            key = login.lower()
            owner = self.user(repo.owner)
            if repo.owner.lower() == key:
                roles.append("admin")
            elif owner is not None and owner.type == "Organization":
                member = {k.lower(): v for k, v in owner.members.items()}.get(key)
                if member == "admin":
                    roles.append("admin")
                for team in self.teams.values():
                    if team.org.lower() != repo.owner.lower():
                        continue
                    if key in {m.lower() for m in team.members} and repo.key in team.repos:
                        roles.append(TEAM_PERMISSIONS[team.repos[repo.key]])
            collaborator = {k.lower(): v for k, v in repo.collaborators.items()}.get(key)
            if collaborator:
                roles.append(collaborator)
        return max(roles, key=ROLES.index)

    def forks_of(self, repo: Repo) -> list[Repo]:
        return [r for r in self.repos.values() if r.parent and r.parent.lower() == repo.key]
