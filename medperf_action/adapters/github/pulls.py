"""Pull requests: reading one, listing them, their files, labels and comments, merging.

Labels and comments are written idempotently: a label already there (or already gone) is
fine, and a comment is found again by its first line before another is posted.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medperf_action.adapters.github.client import call
from medperf_action.errors import GitHubError

if TYPE_CHECKING:
    from github import Github
    from github.IssueComment import IssueComment
    from github.PullRequest import PullRequest
    from github.Repository import Repository


@dataclass(frozen=True)
class FileChange:
    """One file a PR changes, as GitHub lists it."""

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


@dataclass(frozen=True)
class PullInfo:
    """A PR as a listing shows it (no further reads)."""

    number: int
    url: str
    author: str
    body: str
    is_open: bool
    merged: bool
    labels: frozenset[str]
    created_at: datetime | None
    closed_at: datetime | None
    head_ref: str
    head_sha: str
    head_repo: Repository | None
    pull: PullRequest


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


def changed_files(repo: Repository, state: PullState) -> list[FileChange]:
    """The files the PR changes *at the head that was read* (`state.head_sha`), compared
    with the base as GitHub compares a PR: never the files of whatever the branch points
    to a moment later. At most 300, as GitHub lists them; a request has one."""

    def files() -> list[FileChange]:
        comparison = repo.compare(state.base_ref, state.head_sha)
        return [FileChange(f.filename, f.status, f.previous_filename) for f in comparison.files]

    return call(f"compare pull request #{state.number} at {state.head_sha[:12]}", files)


def _info(pull: PullRequest) -> PullInfo:
    return PullInfo(
        number=pull.number,
        url=pull.html_url,
        author=pull.user.login if pull.user else "ghost",
        body=pull.body or "",
        is_open=pull.state == "open",
        merged=pull.merged_at is not None,
        labels=frozenset(label.name for label in pull.labels),
        created_at=pull.created_at,
        closed_at=pull.closed_at,
        head_ref=pull.head.ref,
        head_sha=pull.head.sha,
        head_repo=pull.head.repo,
        pull=pull,
    )


def list_pulls(repo: Repository, base: str | None = None, state: str = "all") -> list[PullInfo]:
    """The PRs (to `base`, when given), newest first, from one paginated listing."""

    def listing() -> list[PullInfo]:
        extra: dict[str, Any] = {"base": base} if base else {}
        pulls = repo.get_pulls(state=state, sort="created", direction="desc", **extra)
        return [_info(p) for p in pulls]

    return call(f"list the pull requests of {repo.full_name}", listing)


def open_pulls_from(repo: Repository, owner: str, branch: str) -> list[PullInfo]:
    """The open PRs whose head is OWNER:BRANCH."""
    return call(
        f"find the pull requests of {owner}:{branch}",
        lambda: [_info(p) for p in repo.get_pulls(state="open", head=f"{owner}:{branch}")],
    )


# --------------------------------------------------------------------------- labels


def add_label(state: PullState, name: str) -> bool:
    """Add `name` unless the PR has it; returns whether a request was made."""
    if state.has_label(name):
        return False
    call(f"label pull request #{state.number} {name!r}", lambda: state.pull.add_to_labels(name))
    state.labels.append(name)
    return True


def add_labels(pull: PullRequest, labels: Iterable[str]) -> bool:
    """Add the labels that are missing. False when the token may not label (a requester
    without triage access in the registry): the registry's own workflow labels it then."""
    have = {label.name for label in pull.labels}
    missing = [name for name in labels if name not in have]
    if not missing:
        return True
    try:
        call(f"label pull request #{pull.number}", lambda: pull.add_to_labels(*missing))
    except GitHubError as exc:
        if exc.status in (403, 404):
            return False
        raise
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


# --------------------------------------------------------------------------- comments


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


def post_comment(state: PullState, text: str) -> None:
    call(
        f"comment on pull request #{state.number}",
        lambda: state.pull.create_issue_comment(text),
    )


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
        post_comment(state, text)
        return "created"
    if found.body == text:
        return "unchanged"
    call(f"update comment {found.id} on pull request #{state.number}", lambda: found.edit(text))
    return "updated"


# --------------------------------------------------------------------------- decisions


def merge_at(state: PullState, title: str, message: str) -> None:
    """Squash-merge the PR, only if its head is still `state.head_sha`."""
    call(
        f"merge #{state.number}",
        lambda: state.pull.merge(
            merge_method="squash", sha=state.head_sha, commit_title=title, commit_message=message
        ),
    )


def close(state: PullState) -> None:
    call(f"close #{state.number}", lambda: state.pull.edit(state="closed"))
    state.state = "closed"


def team_member(gh: Github, team: str, login: str) -> bool:
    """Whether `login` is an active member of the team ORG/SLUG (needs read:org)."""
    org, slug = team.split("/", 1)
    url = "/orgs/{}/teams/{}/memberships/{}".format(
        *(urllib.parse.quote(x, safe="") for x in (org, slug, login))
    )
    try:
        _, data = call(
            f"check whether {login} is in the team {team} (the token needs to read the "
            "organisation's teams)",
            lambda: gh.requester.requestJsonAndCheck("GET", url),
        )
    except GitHubError as exc:
        if exc.status == 404:
            return False
        raise
    return isinstance(data, dict) and data.get("state") == "active"
