"""The registry's listings: MedPerf's `benchmark ls`, `mlcube ls` and `association ls`.

A registry on GitHub is more than its files: requests are pull requests. The listings read
the files on the default branch (or `@REF`) and list the registry's pull requests once,
recognising requests by the hidden marker in their body or, failing that, by their head
branch (`layout.identify`), so that no PR's files have to be fetched to know what it
asks for:

* a submission: branch `medperf/submit/<mlcube>`,
  marker `<!-- medperf-action:submission mlcube=<mlcube> -->`;
* an association request: branch `medperf/associate/<benchmark>/<mlcube>[/<n>]`,
  marker `<!-- medperf-action:association benchmark=<benchmark> mlcube=<mlcube> -->`.

An association request counts only when the mlcube's owner opened it (for an mlcube that
is not registered, the convention alone decides): `requests.counts_for_pair`, the
rule `associate` and `registry verify` follow too. A pair's state comes from one place
each: APPROVED from the files on the default branch, PENDING from the owner's open
requests (shown "awaiting verification" until the registry's workflow has labelled them
pending), REJECTED from closed, unmerged requests carrying the rejected label
(`RequestPull.state`); a withdrawn one (closed, unmerged, without the rejected label) is
never listed. Only the latest
state of each (benchmark, mlcube) pair is listed, as MedPerf does; "latest" compares the
approval's `approved_at`, the request PR's creation and the rejected PR's closing time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.adapters.github.client import connect, whoami
from medperf_action.adapters.github.contents import RepoFiles, default_branch
from medperf_action.domain.registry.pins import short
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.requests import OPEN, REJECTED, RequestPull, counts_for_pair
from medperf_action.errors import GitHubError, RegistryInvalid
from medperf_action.text import iso, parse_time, table
from medperf_action.usecases.registries import github_repo, list_requests, open_registry

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import Github, Repository

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: On equal times, an approval outranks a rejection, which outranks a request.
_RANK = {"APPROVED": 2, "REJECTED": 1, "PENDING": 0}


# ---------------------------------------------------------------------------------------
# Requests: the registry's pull requests that are submissions or association requests


@dataclass
class RegistryView:
    """A registry as the listings see it: its files and, on GitHub, its pull requests."""

    registry: Registry
    gh: Github | None = None
    _requests: list[RequestPull] | None = None
    _registered: set[str] | None = None
    _owners: dict[str, str | None] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.registry.description

    @property
    def repo(self) -> Repository | None:
        return github_repo(self.registry)

    def requests(self) -> list[RequestPull]:
        """The registry's requests, from one paginated listing of its PRs (cached)."""
        if self._requests is not None:
            return self._requests
        repo = self.repo
        found: list[RequestPull] = []
        if repo is not None:
            found = list_requests(repo, default_branch(repo))
        self._requests = found
        return found

    def owner(self, mlcube_id: str) -> str | None:
        """The registered owner of an mlcube, or None: one listing of mlcubes/, then one
        read per registered mlcube asked about."""
        if mlcube_id not in self._owners:
            if self._registered is None:
                self._registered = set(self.registry.mlcube_ids())
            registered = mlcube_id in self._registered
            self._owners[mlcube_id] = self.registry.owner_of(mlcube_id) if registered else None
        return self._owners[mlcube_id]

    def association_requests(self, wanted: Callable[[tuple[str, ...]], bool]) -> list[RequestPull]:
        """The association requests of the wanted pairs that count (see the module's doc)."""
        return [
            r
            for r in self.requests()
            if r.kind == "association"
            and wanted(r.ids)
            and counts_for_pair(r, self.owner(r.mlcube))
        ]


def open_view(location: str, token: str | None = None) -> RegistryView:
    """Open `--registry`; a GitHub registry is read anonymously when there is no token."""
    if Path(location).is_dir():
        return RegistryView(open_registry(location))
    gh = connect(token, anonymous=True)
    gh.per_page = 100  # the PR listing in as few pages as GitHub allows
    return RegistryView(open_registry(location, client=gh, snapshot=True), gh)


def current_user(token: str | None = None) -> str:
    """The login of the token's user (GET /user); UsageError when there is no token."""
    return whoami(connect(token))


# ---------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class PullLink:
    number: int
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "url": self.url}


@dataclass(frozen=True)
class BenchmarkRow:
    id: str
    name: str
    owner: str
    approval_status: str
    state: str | None
    data_preparator: str
    reference_model: str
    evaluator: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MlcubeRow:
    id: str
    name: str | None
    owner: str
    role: str | None
    state: str | None  # the file's DEVELOPMENT | OPERATION
    source: dict[str, str] | None  # repository, ref, commit
    path: str | None  # a local registry's `path:` entry
    pending: PullLink | None = None  # a submission still waiting as an open PR
    problem: str | None = None  # why the PR's file could not be read

    @property
    def state_shown(self) -> str:
        if self.pending is not None:
            return f"PENDING (PR #{self.pending.number})"
        return self.state or "-"

    @property
    def source_shown(self) -> str:
        if self.source:
            ref = re.sub(r"^refs/(tags|heads)/", "", self.source["ref"])
            return f"{self.source['repository']}@{ref}"
        return self.path or "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "role": self.role,
            "state": self.state,
            "status": "PENDING" if self.pending else "REGISTERED",
            "source": self.source,
            "path": self.path,
            "pull_request": self.pending.to_json() if self.pending else None,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class AssociationRow:
    benchmark: str
    mlcube: str
    status: str
    initiated_by: str
    date: datetime | None
    pull: PullLink | None = None
    #: An approval's record of what was verified (schemas/association.schema.json).
    verified: dict[str, Any] | None = None
    #: PENDING, but the registry's workflow has not verified and labelled it yet.
    awaiting_verification: bool = False

    @property
    def status_shown(self) -> str:
        return "PENDING (awaiting verification)" if self.awaiting_verification else self.status

    @property
    def verified_shown(self) -> str:
        """The candidate's image as verified, short; '-' when nothing was recorded."""
        pins = (self.verified or {}).get("mlcubes") or {}
        return short(pins[self.mlcube]) if self.mlcube in pins else "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "mlcube": self.mlcube,
            "status": self.status,
            "initiated_by": self.initiated_by,
            "date": iso(self.date),
            "pull_request": self.pull.to_json() if self.pull else None,
            "verified": self.verified,
            "awaiting_verification": self.awaiting_verification,
        }


# ---------------------------------------------------------------------------------------
# The listings


def list_benchmarks(view: RegistryView) -> list[BenchmarkRow]:
    registry = view.registry
    rows = []
    for benchmark_id in registry.benchmark_ids():
        data = registry.benchmark(benchmark_id)
        rows.append(
            BenchmarkRow(
                id=data["id"],
                name=data["name"],
                owner=data["owner"],
                approval_status=data["approval_status"],
                state=data.get("state"),
                data_preparator=data["data_preparator"],
                reference_model=data["reference_model"],
                evaluator=data["evaluator"],
            )
        )
    return rows


def _mlcube_row(data: dict[str, Any], **extra: Any) -> MlcubeRow:
    return MlcubeRow(
        id=data["id"],
        name=data["name"],
        owner=data["owner"],
        role=data["role"],
        state=data.get("state"),
        source=data.get("source"),
        path=data.get("path"),
        **extra,
    )


def _submitted(request: RequestPull) -> MlcubeRow:
    """An open submission, from `mlcubes/<id>.yaml` at the PR's head (its fork, its SHA)."""
    (mlcube_id,) = request.ids
    link = PullLink(request.number, request.url)
    problem = "its head repository is gone"
    if request.head_repo is not None:
        try:
            head = Registry(RepoFiles(request.head_repo, request.head_sha))
            return _mlcube_row(head.mlcube(mlcube_id), pending=link)
        except (RegistryInvalid, GitHubError) as exc:
            problem = str(exc)
    return MlcubeRow(mlcube_id, None, request.author, None, None, None, None, link, problem)


def list_mlcubes(view: RegistryView, owner: str | None = None) -> list[MlcubeRow]:
    """The mlcubes of the registry, then the submissions still waiting as open PRs."""
    registry = view.registry
    rows = [_mlcube_row(registry.mlcube(i)) for i in registry.mlcube_ids()]
    waiting = [r for r in view.requests() if r.kind == "submission" and r.is_open]
    rows += [_submitted(r) for r in sorted(waiting, key=lambda r: r.number)]
    if owner is not None:
        rows = [r for r in rows if r.owner.lower() == owner.lower()]
    return sorted(rows, key=lambda r: (r.id, r.pending.number if r.pending else 0))


def _from_pulls(view: RegistryView, wanted: Any) -> dict[tuple[str, str], list[AssociationRow]]:
    """PENDING and REJECTED rows from the PR listing, by pair.

    PENDING is an open request that counts (the owner's): carrying the pending label when
    the registry's workflow has taken it in, else awaiting verification. A withdrawn
    request (closed, unmerged, no rejected label) is no row at all; a merged one links an
    approval."""
    requests = view.association_requests(wanted)
    if not requests:
        return {}
    labels = view.registry.config().labels
    rows: dict[tuple[str, str], list[AssociationRow]] = {}
    for request in requests:
        pair = (request.ids[0], request.ids[1])
        link = PullLink(request.number, request.url)
        state = request.state(labels["rejected"])
        if state == OPEN:
            row = AssociationRow(
                *pair,
                "PENDING",
                request.author,
                request.created_at,
                link,
                awaiting_verification=not request.has_label(labels["pending"]),
            )
        elif state == REJECTED:
            row = AssociationRow(*pair, "REJECTED", request.author, request.closed_at, link)
        else:
            continue
        rows.setdefault(pair, []).append(row)
    return rows


def _merged_links(view: RegistryView, wanted: Any) -> dict[tuple[str, str], PullLink]:
    """The latest merged request of each pair: the PR an approval came from."""
    links: dict[tuple[str, str], PullLink] = {}
    merged = [r for r in view.association_requests(wanted) if r.merged]
    for request in sorted(merged, key=lambda r: r.number):
        links[(request.ids[0], request.ids[1])] = PullLink(request.number, request.url)
    return links


def list_associations(
    view: RegistryView,
    benchmark: str | None = None,
    mlcube: str | None = None,
    status: str | None = None,
    initiated_by: str | None = None,
) -> list[AssociationRow]:
    """The latest state of each (benchmark, mlcube) pair, filtered."""
    registry = view.registry
    on_github = view.repo is not None

    def wanted(pair: tuple[str, ...]) -> bool:
        return (benchmark is None or pair[0] == benchmark) and (mlcube is None or pair[1] == mlcube)

    candidates = _from_pulls(view, wanted)
    links = _merged_links(view, wanted) if on_github else {}
    folders = [benchmark] if benchmark else registry.source.list_dir("associations")
    for folder in folders:
        for name in registry.source.list_dir(f"associations/{folder}"):
            pair = (folder, name[:-5])
            if not name.endswith(".yaml") or not wanted(pair):
                continue
            # On GitHub a file only ever says APPROVED; when that cannot be the answer
            # and no PR competes with it, it need not be read.
            if on_github and status not in (None, "APPROVED") and pair not in candidates:
                continue
            data = registry.association(*pair)
            if data is None:
                continue
            if on_github and data["status"] != "APPROVED":
                continue  # requests live in PRs; only approvals are committed
            date = parse_time(data.get("approved_at") or data.get("created_at"))
            row = AssociationRow(
                *pair,
                data["status"],
                data["initiated_by"],
                date,
                links.get(pair),
                data.get("verified"),
            )
            candidates.setdefault(pair, []).append(row)
    latest = [
        max(rows, key=lambda r: (r.date or _EPOCH, _RANK[r.status], r.pull.number if r.pull else 0))
        for rows in candidates.values()
    ]
    if status is not None:
        latest = [r for r in latest if r.status == status]
    if initiated_by is not None:
        latest = [r for r in latest if r.initiated_by.lower() == initiated_by.lower()]
    return sorted(latest, key=lambda r: (r.benchmark, r.mlcube))


# ---------------------------------------------------------------------------------------
# Output


def benchmarks_table(rows: list[BenchmarkRow]) -> str:
    headers = ["ID", "Name", "Owner", "Approval", "State"]
    headers += ["Data preparator", "Reference model", "Evaluator"]
    return table(
        headers,
        [
            [
                *(r.id, r.name, r.owner, r.approval_status, r.state or "-"),
                *(r.data_preparator, r.reference_model, r.evaluator),
            ]
            for r in rows
        ],
    )


def mlcubes_table(rows: list[MlcubeRow]) -> str:
    return table(
        ["ID", "Name", "Owner", "Role", "State", "Source"],
        [
            [r.id, r.name or "-", r.owner, r.role or "-", r.state_shown, r.source_shown]
            for r in rows
        ],
    )


def associations_table(rows: list[AssociationRow]) -> str:
    return table(
        ["Benchmark", "MLCube", "Status", "Initiated by", "Date", "PR", "URL", "Verified image"],
        [
            [
                *(r.benchmark, r.mlcube, r.status_shown, r.initiated_by, iso(r.date) or "-"),
                *((f"#{r.pull.number}", r.pull.url) if r.pull else ("-", "-")),
                r.verified_shown,
            ]
            for r in rows
        ],
    )
