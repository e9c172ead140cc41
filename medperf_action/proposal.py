"""Proposing a change to the registry: a branch on the requester's fork, one file, one PR.

Every step checks what is already there, so running the same proposal again (after a
failure part-way, or with new content) updates the same fork, branch, file and PR and
never opens a second one.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medperf_action.github_api import call, is_status

if TYPE_CHECKING:
    from github.PullRequest import PullRequest
    from github.Repository import Repository


@dataclass
class Proposal:
    branch: str
    path: str
    content: str
    title: str
    body: str
    message: str
    labels: tuple[str, ...] = ()


@dataclass
class Proposed:
    url: str
    number: int
    created: bool
    file_written: bool
    labelled: bool = True


def user_fork(registry: Repository) -> Repository:
    """The token user's fork of the registry. GitHub answers a second fork request with
    the existing fork, so this is safe to repeat."""
    return call("fork the registry", registry.create_fork)


def _open_pull(registry: Repository, owner: str, branch: str) -> PullRequest | None:
    pulls = list(registry.get_pulls(state="open", head=f"{owner}:{branch}"))
    return pulls[0] if pulls else None


def _ensure_branch(fork: Repository, registry: Repository, branch: str) -> None:
    from github import GithubException

    try:
        fork.get_git_ref(f"heads/{branch}").raw_data  # noqa: B018 - raw_data fetches it (lazy client)
        return
    except GithubException as exc:
        if exc.status != 404:
            raise
    base = registry.get_branch(registry.default_branch).commit.sha
    try:
        fork.create_git_ref(f"refs/heads/{branch}", base)
    except GithubException as exc:
        if exc.status != 422:
            raise
        # Either a retried create went through, or the fork does not hold that commit.
        try:
            fork.get_git_ref(f"heads/{branch}").raw_data  # noqa: B018
        except GithubException:
            own = fork.get_branch(fork.default_branch).commit.sha
            fork.create_git_ref(f"refs/heads/{branch}", own)


def _write_file(fork: Repository, proposal: Proposal) -> bool:
    """Create or update the file on the branch; False when it already holds the content."""
    from github import GithubException

    try:
        current = fork.get_contents(proposal.path, ref=proposal.branch)
    except GithubException as exc:
        if exc.status != 404:
            raise
        current = None
    if current is not None and not isinstance(current, list):
        if current.decoded_content.decode("utf-8", errors="replace") == proposal.content:
            return False
        fork.update_file(
            proposal.path, proposal.message, proposal.content, current.sha, branch=proposal.branch
        )
        return True
    fork.create_file(proposal.path, proposal.message, proposal.content, branch=proposal.branch)
    return True


def add_labels(pull: PullRequest, labels: tuple[str, ...]) -> bool:
    """Add the labels that are missing. False when the token may not label in the registry
    (a requester without triage access): the registry's own workflow labels it then."""
    from github import GithubException

    have = {label.name for label in pull.labels}
    missing = [name for name in labels if name not in have]
    if not missing:
        return True
    try:
        pull.add_to_labels(*missing)
    except GithubException as exc:
        if exc.status in (403, 404):
            return False
        raise
    return True


def remove_label(pull: PullRequest, name: str) -> None:
    """Remove a label; its name may hold '/', which PyGithub does not encode."""
    from github import GithubException

    url = f"{pull.issue_url}/labels/{urllib.parse.quote(name, safe='')}"
    try:
        pull._requester.requestJsonAndCheck("DELETE", url)
    except GithubException as exc:
        if exc.status != 404:  # already gone
            raise


def propose(registry: Repository, proposal: Proposal) -> Proposed:
    """Fork, branch, file, pull request: each created only when missing."""
    from github import GithubException

    from medperf_action.github_api import errors

    with errors(f"propose {proposal.path} to {registry.full_name}"):
        fork = user_fork(registry)
        owner = fork.owner.login
        for attempt in range(8):  # GitHub creates forks asynchronously
            try:
                _ensure_branch(fork, registry, proposal.branch)
                break
            except GithubException as exc:
                if attempt == 7 or exc.status != 404:
                    raise
                time.sleep(min(0.2 * 2**attempt, 5))
        written = _write_file(fork, proposal)
        pull = _open_pull(registry, owner, proposal.branch)
        created = pull is None
        if pull is None:
            pull = _create_pull(registry, owner, proposal)
        elif pull.title != proposal.title or (pull.body or "") != proposal.body:
            pull.edit(title=proposal.title, body=proposal.body)
        labelled = add_labels(pull, proposal.labels)
    return Proposed(pull.html_url, pull.number, created, written, labelled)


def _create_pull(registry: Repository, owner: str, proposal: Proposal) -> PullRequest:
    from github import GithubException

    head = f"{owner}:{proposal.branch}"
    try:
        return registry.create_pull(
            base=registry.default_branch, head=head, title=proposal.title, body=proposal.body
        )
    except GithubException as exc:
        # A retried create whose first attempt went through: the PR exists now.
        if is_status(exc, 422):
            found = _open_pull(registry, owner, proposal.branch)
            if found is not None:
                return found
        raise


def pulls_with_marker(registry: Repository, marker: str, state: str = "all") -> list[Any]:
    """The registry's PRs whose body carries `marker` (newest first)."""
    pulls = call(
        "list pull requests",
        lambda: list(registry.get_pulls(state=state, sort="created", direction="desc")),
    )
    return [p for p in pulls if marker in (p.body or "")]
