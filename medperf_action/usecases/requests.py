"""The model owner's side of the registry: `submit` and `associate`.

* `submit` proposes `mlcubes/<id>.yaml` (values from the published release) as a PR from
  the owner's fork, on the branch `medperf/submit/<id>`; re-running updates that PR.
* `associate` runs the compatibility test with the registry's benchmark, then proposes
  `associations/<benchmark>/<mlcube>.yaml` (status PENDING, the execution summary, the
  reported metrics) with the pending label. The registry's own workflows verify it and
  act on the committee's labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.adapters.files.atomic import read_json_object
from medperf_action.adapters.github.client import call, connect, whoami
from medperf_action.adapters.github.contents import default_branch, read_file, repository
from medperf_action.adapters.github.proposals import Proposal, Proposed, propose
from medperf_action.adapters.github.pulls import add_labels, list_pulls
from medperf_action.domain.registry.layout import (
    ASSET_FILES,
    associate_branch,
    association_marker,
    association_path,
    dump_yaml,
    mlcube_path,
    submission_marker,
    submit_branch,
)
from medperf_action.domain.registry.pins import unpinned
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.requests import (
    PairState,
    RequestPull,
    pair_requests,
    pair_state,
)
from medperf_action.domain.validation import validate_file
from medperf_action.domain.yamldoc import load_text
from medperf_action.errors import RegistryInvalid, RequestRefused, UsageError, YamlError
from medperf_action.settings import commit_sha
from medperf_action.text import now_iso
from medperf_action.usecases.compat_test.report import markdown_report
from medperf_action.usecases.registries import list_requests, require_github

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------------------
# submit


@dataclass
class Submission:
    mlcube_id: str
    name: str
    role: str
    description: str | None = None


def _published_asset(published: dict[str, Any], name: str) -> dict[str, str] | None:
    """`{url, sha256}` of one asset release.json records, None when it has none."""
    item = published.get(name)
    if not item:
        return None
    missing = [
        key
        for key in ("url", "sha256")
        if not isinstance(item, dict) or not isinstance(item.get(key), str) or not item[key]
    ]
    if missing:
        raise UsageError(
            f"release.json: the asset {name} has no {' or '.join(missing)} "
            "(run `medperf-action publish` again)"
        )
    return {"url": item["url"], "sha256": item["sha256"]}


def _entry_image(
    record: dict[str, Any], manifest: dict[str, Any], published: dict[str, Any]
) -> dict[str, Any]:
    """How the entry names its image: a pushed digest, the archive, a digest, or a name."""
    image_info = manifest.get("image") or {}
    archive = _published_asset(published, "image.tar.gz")
    if record.get("image"):
        return {"reference": record["image"]}
    if archive:
        return {"archive": archive}
    if image_info.get("repo_digest"):
        return {"reference": image_info["repo_digest"]}
    if image_info.get("ref"):
        return {"name": image_info["ref"]}
    return {}


def build_entry(
    sub: Submission,
    owner: str,
    record: dict[str, Any],
    manifest: dict[str, Any],
    commit: str | None,
) -> dict[str, Any]:
    """`mlcubes/<id>.yaml` from publish's release.json and package's manifest.json."""
    published = record.get("assets") or {}
    if not isinstance(published, dict):
        raise UsageError("release.json: `assets` is not an object of name: {url, sha256}")
    main = _published_asset(published, "mlcube.yaml") or _published_asset(
        published, "container_config.yaml"
    )
    if main is None:
        raise UsageError("the release holds no mlcube.yaml (or container_config.yaml)")
    assets: dict[str, Any] = {"mlcube": main}
    for key, name in ASSET_FILES.items():  # the signature, when package --sign made one
        found = _published_asset(published, name)
        if found:
            assets[key] = found
    entry: dict[str, Any] = {
        "id": sub.mlcube_id,
        "name": sub.name,
        "owner": owner,
        "role": sub.role,
        "state": "OPERATION",
    }
    if sub.description:
        entry["description"] = sub.description
    if record.get("repository") and record.get("tag") and commit:
        entry["source"] = {
            "repository": record["repository"],
            "ref": f"refs/tags/{record['tag']}",
            "commit": commit,
        }
    entry["assets"] = assets
    image = _entry_image(record, manifest, published)
    if image:
        entry["image"] = image
    return entry


def _commit_of(record: dict[str, Any], token: str | None) -> str | None:
    """The commit the release was published from: $GITHUB_SHA, or the tag's commit."""
    sha = commit_sha()
    if sha:
        return sha
    if not (record.get("repository") and record.get("tag")):
        return None
    repo = repository(connect(token), record["repository"])
    # raw_data completes the (lazy) object: the tag's commit, not the name given.
    commit = repo.get_commit(f"refs/tags/{record['tag']}")
    return str(call(f"read the commit of {record['tag']}", lambda: commit.raw_data["sha"]))


def submit(
    registry: Registry,
    sub: Submission,
    assets: Path,
    *,
    token: str | None = None,
) -> tuple[Proposed, dict[str, Any]]:
    """Propose `mlcubes/<id>.yaml` to the registry; returns the PR and the entry."""
    repo = require_github(registry)
    record_path, manifest_path = assets / "release.json", assets / "manifest.json"
    if not record_path.is_file():
        raise UsageError(f"{assets}: no release.json (run `medperf-action publish` first)")
    record = read_json_object(record_path, "run `medperf-action publish` again")
    manifest = (
        read_json_object(manifest_path, "run `medperf-action package` again")
        if manifest_path.is_file()
        else {}
    )
    owner = whoami(repo)
    if registry.has_mlcube(sub.mlcube_id):
        held_by = registry.mlcube(sub.mlcube_id).get("owner")
        if held_by != owner:
            raise RequestRefused(
                f"mlcube id {sub.mlcube_id!r} belongs to {held_by} in {registry.description}; "
                "choose another id"
            )
    marker = submission_marker(sub.mlcube_id)
    for pull in list_pulls(repo, state="open"):
        if marker in pull.body and pull.author != owner:
            raise RequestRefused(
                f"mlcube id {sub.mlcube_id!r} is requested by {pull.author} in PR "
                f"#{pull.number}; choose another id"
            )
    entry = build_entry(sub, owner, record, manifest, _commit_of(record, token))
    _check_entry(entry)
    if unpinned(entry) is not None:
        image = (entry.get("image") or {}).get("name") or "named in mlcube.yaml"
        raise RequestRefused(
            f"the image ({image}) is not pinned, and a registry verifies only an entry that "
            "names its image by digest or as an archive with its SHA-256: package with "
            "--image-archive and publish again, or publish with --push-image REF"
        )
    text = dump_yaml(entry)
    body = (
        f"{marker}\nSubmits the MLCube `{sub.mlcube_id}` ({sub.role}) owned by @{owner}.\n\n"
        f"Published as {record.get('release_url', 'a release')}.\n\n```yaml\n{text}```\n"
    )
    proposal = Proposal(
        branch=submit_branch(sub.mlcube_id),
        path=mlcube_path(sub.mlcube_id),
        content=text,
        title=f"Submit mlcube {sub.mlcube_id}",
        body=body,
        message=f"Submit mlcube {sub.mlcube_id}",
    )
    return propose(repo, proposal), entry


def _check_entry(entry: dict[str, Any]) -> None:
    path = mlcube_path(entry["id"])
    report = validate_file(Path(path), "mlcube-entry", text=dump_yaml(entry), shown_as=path)
    report.raise_errors(RegistryInvalid, "the entry would be invalid")


# ---------------------------------------------------------------------------------------
# associate


def association_state(registry: Registry, benchmark_id: str, mlcube_id: str) -> PairState:
    """The pair's state: APPROVED, PENDING (with its open request), REJECTED or NONE.

    `requests.pair_state` decides, from the requests that count for the pair (the mlcube
    owner's, or by the convention for an mlcube that is not registered) and the pair's file
    on the default branch. A withdrawn request counts as none.
    """
    repo = require_github(registry)
    default = default_branch(repo)
    committed = registry.association(benchmark_id, mlcube_id) is not None
    owner = registry.owner_of(mlcube_id)
    requests = pair_requests(list_requests(repo, default), benchmark_id, mlcube_id, owner)
    return pair_state(requests, registry.config().labels["rejected"], committed)


def association_record(
    benchmark_id: str,
    mlcube_id: str,
    login: str,
    summary: dict[str, Any],
    when: str,
) -> dict[str, Any]:
    return {
        "benchmark": benchmark_id,
        "mlcube": mlcube_id,
        "status": "PENDING",
        "initiated_by": login,
        "created_at": when,
        "result": {"passed": bool(summary["passed"]), "metrics": summary["metrics"]["candidate"]},
        "summary": summary,
    }


def _again(
    opened: RequestPull,
    pending_label: str,
    run_test: Callable[[], dict[str, Any]],
    benchmark_id: str,
    mlcube_id: str,
) -> tuple[Proposed, dict[str, Any]]:
    """The owner's own request is open already (a run cut short before it was labelled is
    finished here). The test runs again: the same cubes and metrics are nothing new, and
    the request stays as it is; other results are refused, naming the open request."""
    labelled = opened.has_label(pending_label) or add_labels(opened.listing.pull, (pending_label,))
    summary = run_test()
    differs = _differences(_requested_summary(opened, benchmark_id, mlcube_id), summary)
    if differs:
        raise RequestRefused(
            f"{mlcube_id} already has a pending association request with {benchmark_id} "
            f"(PR #{opened.number}), made with other results than this run's ({differs}); "
            "close it, then run associate again to request with these"
        )
    return Proposed(opened.url, opened.number, False, False, labelled), {}


def _requested_summary(opened: RequestPull, benchmark_id: str, mlcube_id: str) -> Any:
    """The execution summary an open request holds, at its head."""
    found = read_file(opened.head_repo, association_path(benchmark_id, mlcube_id), opened.head_sha)
    if found is None:
        return None
    try:
        data = load_text(found.text).data
    except YamlError:
        return None
    return data.get("summary") if isinstance(data, dict) else None


def _differences(requested: Any, summary: dict[str, Any]) -> str:
    """What differs between an open request's summary and this run's: the cubes' images
    or the candidate's metrics ('' when nothing does)."""
    if not isinstance(requested, dict):
        return "the open request's summary cannot be read"
    ran = {k: (c or {}).get("image_id") for k, c in summary["cubes"].items()}
    before = {k: (c or {}).get("image_id") for k, c in (requested.get("cubes") or {}).items()}
    changed = sorted(k for k in ran if ran[k] != before.get(k))
    if changed:
        return "other images: " + ", ".join(changed)
    if (requested.get("metrics") or {}).get("candidate") != summary["metrics"]["candidate"]:
        return "other metrics"
    return ""


def not_submitted(registry: Registry, mlcube_id: str) -> str:
    """Why `mlcube_id` cannot be associated yet: its submission waits as an open PR for the
    committee to merge it, or there is none."""
    repo = require_github(registry)
    waiting = [
        r
        for r in list_requests(repo, default_branch(repo), "open")
        if r.kind == "submission" and r.ids == (mlcube_id,)
    ]
    if waiting:
        pull = max(waiting, key=lambda r: r.number)
        return (
            f"{mlcube_id} is submitted but not merged yet: waiting for the committee to merge "
            f"#{pull.number} ({pull.url}); request the association once it is merged"
        )
    return f"{mlcube_id} is not in the registry yet: submit it first (or test with --model)"


def _refuse_unless_allowed(
    registry: Registry, benchmark: dict[str, Any], mlcube_id: str, login: str
) -> None:
    """MedPerf's rules before a request: an approved benchmark, the mlcube's own owner."""
    if benchmark.get("approval_status") != "APPROVED":
        raise RequestRefused(
            f"benchmark {benchmark['id']} is {benchmark.get('approval_status')}; models "
            "associate only with an approved benchmark"
        )
    owner = registry.owner_of(mlcube_id)
    if owner is not None and owner != login:
        raise RequestRefused(
            f"{mlcube_id} belongs to {owner}; only its owner requests its associations"
        )


def _refuse_unless_open(pair: PairState, benchmark_id: str, mlcube_id: str) -> None:
    """A new request for the pair only when none is pending and none was approved."""
    if pair.allows_new_request:
        return
    if pair.status == "APPROVED":
        raise RequestRefused(
            f"{mlcube_id} already has an approved association with {benchmark_id}; an "
            "approved pair is never requested again"
        )
    if pair.status == "PENDING":
        where = f" (PR #{pair.open.number})" if pair.open is not None else ""
        raise RequestRefused(
            f"{mlcube_id} already has a pending association request with {benchmark_id}"
            f"{where}; a new request is allowed once it is rejected (or withdrawn)"
        )


def _request_body(
    registry: Registry,
    benchmark: dict[str, Any],
    mlcube_id: str,
    login: str,
    summary: dict[str, Any],
) -> str:
    note = ""
    same_owner = registry.owner_of(mlcube_id) == benchmark.get("owner")
    if registry.config().policy == "same-owner" and same_owner:
        note = (
            "\nThe benchmark and the model have the same owner: under the registry's "
            "`same-owner` policy it is approved as soon as it is verified.\n"
        )
    benchmark_id = benchmark["id"]
    return (
        f"{association_marker(benchmark_id, mlcube_id)}\n"
        f"Requests the association of `{mlcube_id}` with the benchmark `{benchmark_id}`, "
        f"initiated by @{login}.\n{note}\n{markdown_report(summary)}"
    )


def associate(
    registry: Registry,
    benchmark_id: str,
    mlcube_id: str,
    run_test: Callable[[], dict[str, Any]],
    confirm: Callable[[dict[str, Any]], bool],
) -> tuple[Proposed | None, dict[str, Any]]:
    """Test, confirm, then propose the association. Returns (PR or None, record)."""
    repo = require_github(registry)
    benchmark = registry.benchmark(benchmark_id)
    login = whoami(repo)
    _refuse_unless_allowed(registry, benchmark, mlcube_id, login)
    pending_label = registry.config().labels["pending"]
    pair = association_state(registry, benchmark_id, mlcube_id)
    opened = pair.open
    if pair.status == "PENDING" and opened is not None and opened.author.lower() == login.lower():
        return _again(opened, pending_label, run_test, benchmark_id, mlcube_id)
    _refuse_unless_open(pair, benchmark_id, mlcube_id)
    summary = run_test()
    record = association_record(benchmark_id, mlcube_id, login, summary, now_iso())
    if not confirm(summary):
        return None, record
    proposal = Proposal(
        branch=associate_branch(
            benchmark_id, mlcube_id, pair.next_attempt(benchmark_id, mlcube_id)
        ),
        path=association_path(benchmark_id, mlcube_id),
        content=dump_yaml(record),
        title=f"Associate {mlcube_id} with {benchmark_id}",
        body=_request_body(registry, benchmark, mlcube_id, login, summary),
        message=f"Request the association of {mlcube_id} with {benchmark_id}",
        labels=(pending_label,),
    )
    return propose(repo, proposal), record
