"""Proposing one file as a pull request from the token user's fork.

Every step checks what is already there, so running the same proposal again (after a
failure part-way, or with new content) updates the same fork, branch, file and PR and
never opens a second one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medperf_action.adapters.github.client import call, is_status
from medperf_action.adapters.github.pulls import add_labels
from medperf_action.errors import GitHubError

if TYPE_CHECKING:
    from github.PullRequest import PullRequest
    from github.Repository import Repository

#: GitHub creates forks asynchronously: a new fork's branch is tried this many times.
FORK_ATTEMPTS = 8


@dataclass(frozen=True)
class Proposal:
    branch: str
    path: str
    content: str
    title: str
    body: str
    message: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Proposed:
    url: str
    number: int
    created: bool
    file_written: bool
    labelled: bool = True


def propose(upstream: Repository, proposal: Proposal) -> Proposed:
    """Fork, branch, file, pull request: each created only when missing."""
    action = f"propose {proposal.path} to {upstream.full_name}"
    # GitHub answers a second fork request with the existing fork: safe to repeat.
    fork = call("fork the registry", upstream.create_fork)
    owner = call(action, lambda: fork.owner.login)
    for attempt in range(FORK_ATTEMPTS):
        try:
            _ensure_branch(fork, upstream, proposal.branch, action)
            break
        except GitHubError as exc:
            if attempt == FORK_ATTEMPTS - 1 or exc.status != 404:
                raise
            time.sleep(min(0.2 * 2**attempt, 5))
    written = _write_file(fork, proposal, action)
    pull = _open_pull(upstream, owner, proposal.branch, action)
    created = pull is None
    if pull is None:
        pull = _create_pull(upstream, owner, proposal, action)
    elif pull.title != proposal.title or (pull.body or "") != proposal.body:
        call(action, lambda: pull.edit(title=proposal.title, body=proposal.body))
    labelled = add_labels(pull, proposal.labels)
    return Proposed(pull.html_url, pull.number, created, written, labelled)


def _open_pull(upstream: Repository, owner: str, branch: str, action: str) -> PullRequest | None:
    pulls = call(action, lambda: list(upstream.get_pulls(state="open", head=f"{owner}:{branch}")))
    return pulls[0] if pulls else None


def _has_branch(fork: Repository, branch: str, action: str) -> bool:
    try:
        # raw_data fetches it (the client is lazy)
        call(action, lambda: fork.get_git_ref(f"heads/{branch}").raw_data)
        return True
    except GitHubError as exc:
        if exc.status != 404:
            raise
        return False


def _ensure_branch(fork: Repository, upstream: Repository, branch: str, action: str) -> None:
    if _has_branch(fork, branch, action):
        return
    base = call(action, lambda: upstream.get_branch(upstream.default_branch).commit.sha)
    try:
        call(action, lambda: fork.create_git_ref(f"refs/heads/{branch}", base))
    except GitHubError as exc:
        if exc.status != 422:
            raise
        # Either a retried create went through, or the fork does not hold that commit.
        if not _has_branch(fork, branch, action):
            own = call(action, lambda: fork.get_branch(fork.default_branch).commit.sha)
            call(action, lambda: fork.create_git_ref(f"refs/heads/{branch}", own))


def _write_file(fork: Repository, proposal: Proposal, action: str) -> bool:
    """Create or update the file on the branch; False when it already holds the content."""
    try:
        current = call(action, lambda: fork.get_contents(proposal.path, ref=proposal.branch))
    except GitHubError as exc:
        if exc.status != 404:
            raise
        current = None
    if current is not None and not isinstance(current, list):
        if current.decoded_content.decode("utf-8", errors="replace") == proposal.content:
            return False
        sha = current.sha
        call(
            action,
            lambda: fork.update_file(
                proposal.path, proposal.message, proposal.content, sha, branch=proposal.branch
            ),
        )
        return True
    call(
        action,
        lambda: fork.create_file(
            proposal.path, proposal.message, proposal.content, branch=proposal.branch
        ),
    )
    return True


def _create_pull(upstream: Repository, owner: str, proposal: Proposal, action: str) -> PullRequest:
    head = f"{owner}:{proposal.branch}"
    try:
        return call(
            action,
            lambda: upstream.create_pull(
                base=upstream.default_branch, head=head, title=proposal.title, body=proposal.body
            ),
        )
    except GitHubError as exc:
        # A retried create whose first attempt went through: the PR exists now.
        if is_status(exc, 422):
            found = _open_pull(upstream, owner, proposal.branch, action)
            if found is not None:
                return found
        raise
