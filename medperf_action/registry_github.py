"""What the registry's workflows and commands share: a pull request as a request, labels,
comments.

* `read_pull` and `changed_files` read a PR once; `analyse` says what kind of request its
  changed files make (an association, a submission, or something medperf-action does not
  verify) and which of them break the rules on allowed changes.
* `list_requests`, `counts_for_pair` and `pair_state` say which PRs are requests and what
  state a (benchmark, mlcube) pair is in: the one answer `associate`, `registry verify`
  and the listings share (see "Requests and their states" below).
* Labels and comments are written idempotently: a label already there (or already gone) is
  fine, and a comment is found again by its hidden marker before another is posted.
* Only comments by the identity running the command are trusted
  (`github_api.whoami`).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medperf_action.errors import MedperfError
from medperf_action.github_api import GitHubError, call, describe
from medperf_action.registry import SLUG, Registry, branch_attempt, classify, identify

if TYPE_CHECKING:
    from github import Github
    from github.IssueComment import IssueComment
    from github.PullRequest import PullRequest
    from github.Repository import Repository

REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
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
# Requests and their states
#
# A PR is a request when its body carries a request marker, or failing that, its head
# branch follows the convention (`registry.identify`). An association request *counts for
# its pair* only when it was opened by the mlcube's owner, as `mlcubes/<id>.yaml` on the
# default branch names them; for an mlcube that is not registered there is no owner to ask,
# and the marker/branch convention alone decides. So nobody can block another owner's pair
# by opening a PR that carries its marker.
#
# One PR's state (`RequestPull.state`):
#   OPEN       open (labelled or not);
#   MERGED     merged: the committee approved it (the APPROVED file follows on the default
#              branch);
#   REJECTED   closed, unmerged, with the registry's rejected label;
#   WITHDRAWN  closed, unmerged, without it: closed by its author (or anybody) without a
#              decision. A withdrawn request is as if it had never been opened: it is
#              neither pending nor a rejection.
#
# A pair's state (`pair_state`), for what `associate` and `registry verify` allow:
#   APPROVED   the default branch holds the pair's file, or one of its requests is merged;
#   PENDING    one of its requests is OPEN, labelled pending or not (an unlabelled one is
#              the owner's own, not yet labelled by the registry's workflow);
#   REJECTED   the latest decided request was rejected;
#   NONE       no request, or only withdrawn ones.
# As in MedPerf, a new request is allowed when none is pending and the last was rejected
# or none exists (NONE or REJECTED); a withdrawn request counts as none.
#
# The listings (`association ls`) show a stricter PENDING on purpose: an OPEN request
# carrying the registry's pending label, i.e. one the registry's workflow has taken in.
# An open request that is not labelled yet blocks a second request, but is not listed.

OPEN, MERGED, REJECTED, WITHDRAWN = "OPEN", "MERGED", "REJECTED", "WITHDRAWN"


@dataclass(frozen=True)
class RequestPull:
    """A PR to the registry that is a request, as the PR listing shows it (no more reads)."""

    kind: str  # "submission" | "association"
    ids: tuple[str, ...]  # (mlcube,) | (benchmark, mlcube)
    number: int
    url: str
    author: str
    is_open: bool
    merged: bool
    labels: frozenset[str]
    created_at: datetime | None
    closed_at: datetime | None
    head_ref: str = ""
    head_sha: str = ""
    head_repo: Repository | None = field(default=None, compare=False, repr=False)
    pull: Any = field(default=None, compare=False, repr=False)

    @property
    def mlcube(self) -> str:
        return self.ids[-1]

    def has_label(self, name: str) -> bool:
        return any(label.lower() == name.lower() for label in self.labels)

    def state(self, rejected_label: str) -> str:
        """OPEN, MERGED, REJECTED or WITHDRAWN (see above)."""
        if self.is_open:
            return OPEN
        if self.merged:
            return MERGED
        return REJECTED if self.has_label(rejected_label) else WITHDRAWN


def request_of(pull: PullRequest) -> RequestPull | None:
    """The request a PR (as listed) makes, or None when it is not one."""
    what = identify(pull.body, pull.head.ref)
    if what is None:
        return None
    return RequestPull(
        kind=what[0],
        ids=what[1],
        number=pull.number,
        url=pull.html_url,
        author=pull.user.login if pull.user else "ghost",
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


def list_requests(repo: Repository, base: str, state: str = "all") -> list[RequestPull]:
    """The requests among the PRs to `base` (the default branch), from one paginated
    listing, newest first."""

    def listing() -> list[RequestPull]:
        pulls = repo.get_pulls(state=state, base=base, sort="created", direction="desc")
        return [r for r in map(request_of, pulls) if r is not None]

    return call(f"list the pull requests of {repo.full_name}", listing)


def mlcube_owner(registry: Registry, mlcube_id: str) -> str | None:
    """The owner of a registered mlcube (its file on the registry's ref), else None."""
    entry = registry.find_mlcube(mlcube_id)
    return None if entry is None else str(entry["owner"])


def counts_for_pair(request: RequestPull, owner: str | None) -> bool:
    """Whether an association request counts for its pair: opened by the mlcube's owner;
    for an mlcube that is not registered (`owner` None), any PR the convention names."""
    if request.kind != "association":
        return False
    return owner is None or request.author.lower() == owner.lower()


def pair_requests(
    requests: Iterable[RequestPull],
    benchmark_id: str,
    mlcube_id: str,
    owner: str | None,
) -> list[RequestPull]:
    """The association requests that count for the pair, in the order given."""
    return [
        r
        for r in requests
        if r.kind == "association"
        and r.ids == (benchmark_id, mlcube_id)
        and counts_for_pair(r, owner)
    ]


@dataclass
class PairState:
    """What a (benchmark, mlcube) pair's requests add up to (see above)."""

    status: str  # NONE | PENDING | APPROVED | REJECTED
    requests: list[RequestPull]  # those that count, newest first
    open: RequestPull | None = None  # the newest open one

    @property
    def allows_new_request(self) -> bool:
        return self.status in ("NONE", "REJECTED")

    def next_attempt(self, benchmark_id: str, mlcube_id: str) -> int:
        """The attempt number of the next request's branch (never one already used)."""
        used = [branch_attempt(r.head_ref, benchmark_id, mlcube_id) or 0 for r in self.requests]
        return max([len(self.requests), *used]) + 1


def pair_state(
    requests: list[RequestPull], rejected_label: str, committed: bool = False
) -> PairState:
    """The state of a pair from the requests that count for it (`pair_requests`), and
    whether the default branch holds its file (`committed`)."""
    ordered = sorted(requests, key=lambda r: r.number, reverse=True)
    states = [(r, r.state(rejected_label)) for r in ordered]
    opened = next((r for r, s in states if s == OPEN), None)
    if committed or any(s == MERGED for _, s in states):
        return PairState("APPROVED", ordered, opened)
    if opened is not None:
        return PairState("PENDING", ordered, opened)
    if any(s == REJECTED for _, s in states):
        return PairState("REJECTED", ordered)
    return PairState("NONE", ordered)


# ---------------------------------------------------------------------------------------
# Sources that read each file once


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
