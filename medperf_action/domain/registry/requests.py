"""What a registry pull request asks for, and what state a (benchmark, mlcube) pair is in.

* `analyse` says what kind of request a PR's changed files make (an association, a
  submission, or something medperf-action does not verify) and which of them break the
  rules on allowed changes.
* `request_of`, `counts_for_pair` and `pair_state` say which PRs are requests and what
  state a pair is in: the one answer `associate`, `registry verify` and the listings share
  (see "Requests and their states" below).

Pull requests come from the GitHub adapter; this module needs only their attributes
(`ChangedFile`, `ListedPull`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from medperf_action.domain.registry.layout import (
    PAIR_KINDS,
    SLUG,
    Change,
    branch_attempt,
    classify,
    identify,
)

#: A request changes one file; a PR listing more than this is not read further.
MAX_FILES = 100


class ChangedFile(Protocol):
    """One file a PR changes."""

    @property
    def path(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def previous(self) -> str | None: ...


class ListedPull(Protocol):
    """A PR as a listing shows it."""

    @property
    def number(self) -> int: ...

    @property
    def url(self) -> str: ...

    @property
    def author(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def merged(self) -> bool: ...

    @property
    def labels(self) -> frozenset[str]: ...

    @property
    def created_at(self) -> datetime | None: ...

    @property
    def closed_at(self) -> datetime | None: ...

    @property
    def head_ref(self) -> str: ...

    @property
    def head_sha(self) -> str: ...

    @property
    def head_repo(self) -> Any: ...


# ---------------------------------------------------------------------------------------
# What a PR asks for


@dataclass(frozen=True)
class RequestKind:
    """One kind of request: the one registry file it changes, how, and its ids' names."""

    kind: str  # association | submission | dataset | dataset-association | result
    file_kind: str  # the changed file's kind (`layout.classify`)
    statuses: tuple[str, ...]  # how the request may change its file (GitHub's status)
    ids: tuple[str, ...]  # the `Request` fields its file's place gives, in order
    rule: str  # the rule, as a refusal says it
    final: str = ""  # what a refusal of another status adds


#: The requests medperf-action verifies; a PR's kind is the first whose file it changes.
REQUEST_KINDS = (
    RequestKind(
        "association",
        "association",
        ("added",),
        ("benchmark", "mlcube"),
        "an association request changes exactly one file, associations/BENCHMARK/MLCUBE.yaml",
    ),
    RequestKind(
        "submission",
        "mlcube",
        ("added", "modified"),
        ("mlcube",),
        "a submission changes only its own mlcubes/ID.yaml",
    ),
    RequestKind(
        "dataset-association",
        "dataset-association",
        ("added",),
        ("benchmark", "dataset"),
        "a dataset association request changes exactly one file, "
        "dataset-associations/BENCHMARK/DATASET.yaml",
    ),
    RequestKind(
        "dataset",
        "dataset",
        ("added", "modified"),
        ("dataset",),
        "a dataset registration changes only its own datasets/ID.yaml",
    ),
    RequestKind(
        "result",
        "result",
        ("added",),
        ("benchmark", "mlcube", "dataset"),
        "a result changes exactly one file, results/BENCHMARK/MODEL/DATASET.yaml",
        "a released result is never changed or removed",
    ),
)


@dataclass
class Request:
    """What kind of request a PR's changed files make, and the rules they break."""

    kind: str  # association | submission | dataset | dataset-association | result | other
    path: str | None = None
    benchmark: str | None = None
    mlcube: str | None = None  # an association's or a submission's mlcube; a result's model
    dataset: str | None = None
    problems: list[str] = field(default_factory=list)
    changes: Sequence[ChangedFile] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.problems

    @property
    def ids(self) -> tuple[str | None, ...]:
        """(benchmark, mlcube, dataset): what a report about the request names."""
        return self.benchmark, self.mlcube, self.dataset

    @property
    def member(self) -> str | None:
        """A pair request's member of the benchmark: the mlcube, or the dataset."""
        return self.dataset if self.kind == "dataset-association" else self.mlcube


def _not_a_request(paths: list[str], kinds: list[Change]) -> str:
    committee = [k.path for k in kinds if k.kind in ("registry", "benchmark")]
    reason = (
        f"it changes {', '.join(committee)}: the committee's own changes"
        if committee
        else ("it changes no file" if not paths else f"it changes {', '.join(paths[:10])}")
    )
    return f"not a request medperf-action verifies ({reason})"


def analyse(changes: Sequence[ChangedFile], base_ref: str, default_branch: str) -> Request:
    """The request a PR makes, from its changed files alone (no file is read).

    A request changes exactly one file, in the way its kind allows (`REQUEST_KINDS`): an
    association request adds associations/B/M.yaml; a submission adds or updates
    mlcubes/ID.yaml; a data owner adds or updates datasets/ID.yaml, adds
    dataset-associations/B/D.yaml, or adds results/B/M/D.yaml (never changes or removes
    one). Nothing else is a request medperf-action verifies (registry.yaml and benchmarks/
    are the committee's own changes), and no request ever touches .github/.
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
    found = [(spec, k) for spec in REQUEST_KINDS for k in kinds if k.kind == spec.file_kind]
    if not found:
        problems.insert(0, _not_a_request(paths, kinds))
        return Request("other", problems=problems, changes=changes)
    spec, target = found[0]
    request = Request(spec.kind, changes=changes)
    others = [p for p in paths if p != target.path]
    if others:
        problems.append(f"{spec.rule}; this one also changes {', '.join(others[:20])}")
    change = next(c for c in changes if target.path in (c.path, c.previous))
    if change.status not in spec.statuses or change.path != target.path:
        problems.append(
            f"{target.path} is {change.status}; a request {' or '.join(spec.statuses)} it"
            + (f": {spec.final}" if spec.final else "")
        )
    bad_ids = [i for i in target.ids if not SLUG.match(i)]
    if bad_ids:
        problems.append(f"{target.path}: {', '.join(map(repr, bad_ids))} is not a valid id")
    else:
        request.path = target.path
        for name, value in zip(spec.ids, target.ids, strict=True):
            setattr(request, name, value)
    request.problems = problems
    return request


# ---------------------------------------------------------------------------------------
# Requests and their states
#
# A PR is a request when its body carries a request marker, or failing that, its head
# branch follows the convention (`layout.identify`). An association request *counts for
# its pair* only when it was opened by the mlcube's owner, as `mlcubes/<id>.yaml` on the
# default branch names them (a dataset association: the dataset's owner, as
# `datasets/<id>.yaml` names them); for one that is not registered there is no owner to ask,
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
# The listings (`association ls`) show the same PENDING, and say of an unlabelled request
# that it awaits the registry's verification.

OPEN, MERGED, REJECTED, WITHDRAWN = "OPEN", "MERGED", "REJECTED", "WITHDRAWN"


@dataclass(frozen=True)
class RequestPull:
    """A PR to the registry that is a request, as the PR listing shows it (no more reads)."""

    kind: str  # a `REQUEST_KINDS` kind
    ids: tuple[str, ...]  # its ids, as `layout.identify` gives them
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
    head_repo: Any = field(default=None, compare=False, repr=False)
    listing: Any = field(default=None, compare=False, repr=False)  # the adapter's PullInfo

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


def request_of(pull: ListedPull) -> RequestPull | None:
    """The request a PR (as listed) makes, or None when it is not one."""
    what = identify(pull.body, pull.head_ref)
    if what is None:
        return None
    return RequestPull(
        kind=what[0],
        ids=what[1],
        number=pull.number,
        url=pull.url,
        author=pull.author,
        is_open=pull.is_open,
        merged=pull.merged,
        labels=pull.labels,
        created_at=pull.created_at,
        closed_at=pull.closed_at,
        head_ref=pull.head_ref,
        head_sha=pull.head_sha,
        head_repo=pull.head_repo,
        listing=pull,
    )


def counts_for_pair(request: RequestPull, owner: str | None) -> bool:
    """Whether a pair request (an association, a dataset association) counts for its pair:
    opened by the owner of the mlcube or dataset; for one that is not registered (`owner`
    None), any PR the convention names."""
    if request.kind not in PAIR_KINDS:
        return False
    return owner is None or request.author.lower() == owner.lower()


def pair_requests(
    requests: Iterable[RequestPull],
    benchmark_id: str,
    member_id: str,
    owner: str | None,
    kind: str = "association",
) -> list[RequestPull]:
    """The requests of `kind` that count for the pair (benchmark, mlcube or dataset), in
    the order given."""
    return [
        r
        for r in requests
        if r.kind == kind and r.ids == (benchmark_id, member_id) and counts_for_pair(r, owner)
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

    def next_attempt(self, benchmark_id: str, member_id: str, kind: str = "association") -> int:
        """The attempt number of the next request's branch (never one already used)."""
        used = [
            branch_attempt(r.head_ref, benchmark_id, member_id, kind) or 0 for r in self.requests
        ]
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
