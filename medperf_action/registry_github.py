"""What the registry's own workflows share: a pull request as a request, labels, comments.

* `read_pull` and `changed_files` read a PR once; `analyse` says what kind of request its
  changed files make (an association, a submission, or something medperf-action does not
  verify) and which of them break the rules on allowed changes.
* Labels and comments are written idempotently: a label already there (or already gone) is
  fine, and a comment is found again by its hidden marker before another is posted.
* Only comments by the identity running the command are trusted (`whoami`).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medperf_action.errors import MedperfError
from medperf_action.github_api import GitHubError, call, describe
from medperf_action.registry import Source, classify

if TYPE_CHECKING:
    from github import Github
    from github.IssueComment import IssueComment
    from github.PullRequest import PullRequest
    from github.Repository import Repository

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
#: The identity of `GITHUB_TOKEN`, which cannot read GET /user itself.
ACTIONS_BOT = "github-actions[bot]"
BOT_LOGIN_ENV = "MEDPERF_ACTION_BOT_LOGIN"
#: A request changes one file; a PR listing more than this is not read further.
MAX_FILES = 100


class RegistryOpsError(MedperfError):
    """A registry workflow step that cannot be carried out; the message says why."""


# ---------------------------------------------------------------------------------------
# Reading a pull request


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | modified | removed | renamed | copied | changed | unchanged
    previous: str | None = None


@dataclass
class PullState:
    """A PR as read once: who opened it, where its head is, its labels."""

    pull: PullRequest
    number: int
    author: str
    state: str
    merged: bool
    head_repo: str | None
    head_ref: str
    head_sha: str
    base_ref: str
    labels: list[str]
    body: str

    def has_label(self, name: str) -> bool:
        return any(label.lower() == name.lower() for label in self.labels)


def read_pull(repo: Repository, number: int) -> PullState:
    pull = call(f"read pull request #{number} of {repo.full_name}", lambda: repo.get_pull(number))
    head_repo = pull.head.repo
    return PullState(
        pull=pull,
        number=pull.number,
        author=pull.user.login,
        state=pull.state,
        merged=bool(pull.merged),
        head_repo=head_repo.full_name if head_repo is not None else None,
        head_ref=pull.head.ref,
        head_sha=pull.head.sha,
        base_ref=pull.base.ref,
        labels=[label.name for label in pull.labels],
        body=pull.body or "",
    )


def changed_files(state: PullState) -> list[FileChange]:
    """The PR's changed files (at most MAX_FILES + 1: more is refused anyway)."""

    def files() -> list[FileChange]:
        out: list[FileChange] = []
        for f in state.pull.get_files():
            out.append(FileChange(f.filename, f.status, f.previous_filename))
            if len(out) > MAX_FILES:
                break
        return out

    return call(f"list the files of pull request #{state.number}", files)


# ---------------------------------------------------------------------------------------
# What a PR asks for


@dataclass
class Request:
    """What kind of request a PR's changed files make, and the rules they break."""

    kind: str  # association | submission | other
    path: str | None = None
    benchmark: str | None = None
    mlcube: str | None = None
    problems: list[str] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.problems


def analyse(changes: list[FileChange], base_ref: str, default_branch: str) -> Request:
    """The request a PR makes, from its changed files alone (no file is read).

    An association request adds exactly one file, associations/B/M.yaml; a submission adds
    or updates exactly one file, mlcubes/ID.yaml. Nothing else is a request medperf-action
    verifies (registry.yaml and benchmarks/ are the committee's own changes), and no
    request ever touches .github/.
    """
    problems: list[str] = []
    paths = sorted({p for c in changes for p in (c.path, c.previous) if p})
    if len(changes) > MAX_FILES:
        problems.append(f"it changes more than {MAX_FILES} files")
    touched_github = [p for p in paths if p == ".github" or p.startswith(".github/")]
    if touched_github:
        problems.append(
            "it changes " + ", ".join(touched_github) + " (a request never changes .github/: "
            "workflows and repository settings are the maintainers' own changes)"
        )
    if base_ref != default_branch:
        problems.append(f"it targets {base_ref!r}, not the default branch {default_branch!r}")
    kinds = [classify(p) for p in paths]
    associations = [k for k in kinds if k.kind == "association"]
    mlcubes = [k for k in kinds if k.kind == "mlcube"]
    if associations:
        request = Request("association", changes=changes)
        target = associations[0]
        what = "an association request changes exactly one file, associations/BENCHMARK/MLCUBE.yaml"
    elif mlcubes:
        request = Request("submission", changes=changes)
        target = mlcubes[0]
        what = "a submission changes only its own mlcubes/ID.yaml"
    else:
        committee = [k.path for k in kinds if k.kind in ("registry", "benchmark")]
        reason = (
            f"it changes {', '.join(committee)}: the committee's own changes"
            if committee
            else ("it changes no file" if not paths else f"it changes {', '.join(paths[:10])}")
        )
        problems.insert(0, f"not a request medperf-action verifies ({reason})")
        return Request("other", problems=problems, changes=changes)
    others = [p for p in paths if p != target.path]
    if others:
        problems.append(f"{what}; this one also changes {', '.join(others[:20])}")
    change = next(c for c in changes if target.path in (c.path, c.previous))
    allowed_status = ("added",) if request.kind == "association" else ("added", "modified")
    if change.status not in allowed_status or change.path != target.path:
        problems.append(
            f"{target.path} is {change.status}; a request {' or '.join(allowed_status)} it"
        )
    bad_ids = [i for i in target.ids if not SLUG.match(i)]
    if bad_ids:
        problems.append(f"{target.path}: {', '.join(map(repr, bad_ids))} is not a valid id")
    else:
        request.path = target.path
        if request.kind == "association":
            request.benchmark, request.mlcube = target.ids
        else:
            request.mlcube = target.ids[0]
    request.problems = problems
    return request


# ---------------------------------------------------------------------------------------
# Sources that read each file once


@dataclass
class CachedSource:
    """A Source that reads each path once (Registry reads registry.yaml twice)."""

    inner: Source
    _files: dict[str, str | None] = field(default_factory=dict)
    _dirs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.inner.description

    def read(self, path: str) -> str | None:
        if path not in self._files:
            self._files[path] = self.inner.read(path)
        return self._files[path]

    def list_dir(self, path: str) -> list[str]:
        if path not in self._dirs:
            self._dirs[path] = self.inner.list_dir(path)
        return self._dirs[path]


# ---------------------------------------------------------------------------------------
# Labels and comments


def add_label(state: PullState, name: str) -> bool:
    """Add `name` unless the PR has it; returns whether a request was made."""
    if state.has_label(name):
        return False
    call(f"label pull request #{state.number} {name!r}", lambda: state.pull.add_to_labels(name))
    state.labels.append(name)
    return True


def remove_label(state: PullState, name: str) -> bool:
    """Remove `name` if the PR has it (already gone is fine); returns whether it asked.

    The name is percent-encoded whole: label names here contain '/', which PyGithub's
    remove_from_labels would send as a path separator.
    """
    if not state.has_label(name):
        return False
    url = f"{state.pull.issue_url}/labels/{urllib.parse.quote(name, safe='')}"
    try:
        call(
            f"remove the label {name!r} from pull request #{state.number}",
            lambda: state.pull.requester.requestJsonAndCheck("DELETE", url),
        )
    except GitHubError as exc:
        if exc.status != 404:  # 404: someone removed it first
            raise
    state.labels = [label for label in state.labels if label.lower() != name.lower()]
    return True


def whoami(gh: Github) -> str:
    """The login the token acts as; GITHUB_TOKEN cannot ask, so it is github-actions[bot]
    (or $MEDPERF_ACTION_BOT_LOGIN, for a GitHub App's token)."""
    from github import GithubException

    configured = os.environ.get(BOT_LOGIN_ENV)
    if configured:
        return configured
    try:
        return str(gh.get_user().login)
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            return ACTIONS_BOT
        raise


def comments(state: PullState) -> list[IssueComment]:
    return call(
        f"list the comments of pull request #{state.number}",
        lambda: list(state.pull.get_issue_comments()),
    )


def find_comment(
    found: Iterable[IssueComment], first_line: str, author: str | None
) -> IssueComment | None:
    """The comment whose first line is `first_line`, written by `author` (if given)."""
    for comment in found:
        body = comment.body or ""
        if body.split("\n", 1)[0].strip() != first_line:
            continue
        login = comment.user.login if comment.user is not None else ""
        if author is not None and login.lower() != author.lower():
            continue
        return comment
    return None


def upsert_comment(
    state: PullState,
    first_line: str,
    body: str,
    author: str | None,
    existing: list[IssueComment] | None = None,
) -> str:
    """Post the one comment starting with `first_line`, or update it; 'created',
    'updated' or 'unchanged'."""
    text = f"{first_line}\n{body}"
    found = find_comment(existing if existing is not None else comments(state), first_line, author)
    if found is None:
        call(
            f"comment on pull request #{state.number}",
            lambda: state.pull.create_issue_comment(text),
        )
        return "created"
    if found.body == text:
        return "unchanged"
    call(f"update comment {found.id} on pull request #{state.number}", lambda: found.edit(text))
    return "updated"


# ---------------------------------------------------------------------------------------
# The committee


def team_member(gh: Github, team: str, login: str) -> bool:
    """Whether `login` is an active member of the team ORG/SLUG (needs read:org)."""
    from github import GithubException

    org, slug = team.split("/", 1)
    url = "/orgs/{}/teams/{}/memberships/{}".format(
        *(urllib.parse.quote(x, safe="") for x in (org, slug, login))
    )
    try:
        _, data = gh.requester.requestJsonAndCheck("GET", url)
    except GithubException as exc:
        if exc.status == 404:
            return False
        raise RegistryOpsError(
            f"cannot check whether {login} is in the team {team}: {describe(exc)} "
            "(the token needs to read the organisation's teams)"
        ) from None
    return isinstance(data, dict) and data.get("state") == "active"


def on_committee(gh: Github, users: list[str], teams: list[str], login: str) -> bool:
    if login.lower() in {u.lower() for u in users}:
        return True
    return any(team_member(gh, team, login) for team in teams)
