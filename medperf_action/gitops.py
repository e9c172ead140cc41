"""The model owner's side of the registry: `submit` and `associate`.

* `submit` proposes `mlcubes/<id>.yaml` (values from the published release) as a PR from
  the owner's fork, on the branch `medperf/submit/<id>`; re-running updates that PR.
* `associate` runs the compatibility test with the registry's benchmark, then proposes
  `associations/<benchmark>/<mlcube>.yaml` (status PENDING, the execution summary, the
  reported metrics) with the pending label. The registry's own workflows verify it and
  act on the committee's labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.errors import MedperfError, UsageError
from medperf_action.registry import (
    Registry,
    RegistryError,
    associate_branch,
    association_marker,
    association_path,
    dump_yaml,
    mlcube_path,
    submission_marker,
    submit_branch,
)

if TYPE_CHECKING:
    from github.Repository import Repository

    from medperf_action.proposal import Proposed
    from medperf_action.registry_github import PairState


class RequestRefused(MedperfError):
    """The registry's rules do not allow this request now."""


def _github_registry(registry: Registry) -> Repository:
    from medperf_action.registry import GitHubSource

    if not isinstance(registry.source, GitHubSource):
        raise UsageError(
            f"--registry {registry.description}: requests are pull requests, so the registry "
            "must be a GitHub repository (OWNER/REPO)"
        )
    return registry.source.repo


def _login(repo: Repository) -> str:
    from medperf_action.github_api import whoami

    return whoami(repo)


# ---------------------------------------------------------------------------------------
# submit


@dataclass
class Submission:
    mlcube_id: str
    name: str
    role: str
    description: str | None = None


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

    def asset(name: str) -> dict[str, str] | None:
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

    main = asset("mlcube.yaml") or asset("container_config.yaml")
    if main is None:
        raise UsageError("the release holds no mlcube.yaml (or container_config.yaml)")
    assets: dict[str, Any] = {"mlcube": main}
    for key, name in (
        ("parameters", "parameters.yaml"),
        ("additional_files", "additional_files.tar.gz"),
    ):
        found = asset(name)
        if found:
            assets[key] = found
    image_info = manifest.get("image") or {}
    if record.get("image"):
        image: dict[str, Any] = {"reference": record["image"]}
    elif asset("image.tar.gz"):
        image = {"archive": asset("image.tar.gz")}
    elif image_info.get("repo_digest"):
        image = {"reference": image_info["repo_digest"]}
    elif image_info.get("ref"):
        image = {"name": image_info["ref"]}
    else:
        image = {}
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
    if image:
        entry["image"] = image
    return entry


def _commit_of(record: dict[str, Any], token: str | None) -> str | None:
    """The commit the release was published from: $GITHUB_SHA, or the tag's commit."""
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha
    if not (record.get("repository") and record.get("tag")):
        return None
    from medperf_action.github_api import call, connect

    repo = connect(token).get_repo(record["repository"])
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
    from medperf_action.proposal import Proposal, propose, pulls_with_marker

    repo = _github_registry(registry)
    record_path, manifest_path = assets / "release.json", assets / "manifest.json"
    if not record_path.is_file():
        raise UsageError(f"{assets}: no release.json (run `medperf-action publish` first)")
    from medperf_action.publish import read_json_file

    record = read_json_file(record_path, "run `medperf-action publish` again")
    manifest = (
        read_json_file(manifest_path, "run `medperf-action package` again")
        if manifest_path.is_file()
        else {}
    )
    owner = _login(repo)
    if registry.has_mlcube(sub.mlcube_id):
        held_by = registry.mlcube(sub.mlcube_id).get("owner")
        if held_by != owner:
            raise RequestRefused(
                f"mlcube id {sub.mlcube_id!r} belongs to {held_by} in {registry.description}; "
                "choose another id"
            )
    marker = submission_marker(sub.mlcube_id)
    for pull in pulls_with_marker(repo, marker, state="open"):
        if pull.user.login != owner:
            raise RequestRefused(
                f"mlcube id {sub.mlcube_id!r} is requested by {pull.user.login} in PR "
                f"#{pull.number}; choose another id"
            )
    entry = build_entry(sub, owner, record, manifest, _commit_of(record, token))
    _check_entry(entry)
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
    from medperf_action.validate import validate_file

    report = validate_file(
        Path(mlcube_path(entry["id"])),
        "mlcube-entry",
        text=dump_yaml(entry),
        shown_as=mlcube_path(entry["id"]),
    )
    if report.errors:
        raise RegistryError(
            "the entry would be invalid:\n" + "\n".join(f.text() for f in report.errors)
        )


# ---------------------------------------------------------------------------------------
# associate


def association_state(registry: Registry, benchmark_id: str, mlcube_id: str) -> PairState:
    """The pair's state: APPROVED, PENDING (with its open request), REJECTED or NONE.

    `registry_github.pair_state` decides, from the requests that count for the pair (the
    mlcube owner's, or by the convention for an mlcube that is not registered) and the
    pair's file on the default branch. A withdrawn request counts as none.
    """
    from medperf_action.github_api import call
    from medperf_action.registry_github import (
        list_requests,
        mlcube_owner,
        pair_requests,
        pair_state,
    )

    repo = _github_registry(registry)
    default = call(f"read {repo.full_name}", lambda: repo.default_branch)
    committed = registry.association(benchmark_id, mlcube_id) is not None
    owner = mlcube_owner(registry, mlcube_id)
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


def associate(
    registry: Registry,
    benchmark_id: str,
    mlcube_id: str,
    run_test: Callable[[], dict[str, Any]],
    confirm: Callable[[dict[str, Any]], bool],
) -> tuple[Proposed | None, dict[str, Any]]:
    """Test, confirm, then propose the association. Returns (PR or None, record)."""
    from medperf_action.proposal import Proposal, propose
    from medperf_action.report import markdown_report
    from medperf_action.workflow import now_iso

    repo = _github_registry(registry)
    benchmark = registry.benchmark(benchmark_id)
    if benchmark.get("approval_status") != "APPROVED":
        raise RequestRefused(
            f"benchmark {benchmark_id} is {benchmark.get('approval_status')}; models associate "
            "only with an approved benchmark"
        )
    labels = registry.config().labels
    login = _login(repo)
    if registry.has_mlcube(mlcube_id):
        owner = registry.mlcube(mlcube_id).get("owner")
        if owner != login:
            raise RequestRefused(
                f"{mlcube_id} belongs to {owner}; only its owner requests its associations"
            )
    pair = association_state(registry, benchmark_id, mlcube_id)
    opened = pair.open
    if (
        pair.status == "PENDING"
        and opened is not None
        and opened.author.lower() == login.lower()
        and not opened.has_label(labels["pending"])
    ):
        # Our own request, cut short before it was labelled: finish it.
        from medperf_action.github_api import errors
        from medperf_action.proposal import Proposed, add_labels

        with errors("label the pull request"):
            labelled = add_labels(opened.pull, (labels["pending"],))
        return Proposed(opened.url, opened.number, False, False, labelled), {}
    if pair.status == "APPROVED":
        raise RequestRefused(
            f"{mlcube_id} already has an approved association with {benchmark_id}; an "
            "approved pair is never requested again"
        )
    if pair.status == "PENDING":
        where = f" (PR #{opened.number})" if opened is not None else ""
        raise RequestRefused(
            f"{mlcube_id} already has a pending association request with {benchmark_id}"
            f"{where}; a new request is allowed once it is rejected (or withdrawn)"
        )
    summary = run_test()
    record = association_record(benchmark_id, mlcube_id, login, summary, now_iso())
    if not confirm(summary):
        return None, record
    policy = registry.config().policy
    note = ""
    if policy == "same-owner":
        mlcube_owner = (
            registry.mlcube(mlcube_id).get("owner") if registry.has_mlcube(mlcube_id) else None
        )
        if mlcube_owner == benchmark.get("owner"):
            note = (
                "\nThe benchmark and the model have the same owner: under the registry's "
                "`same-owner` policy it is approved as soon as it is verified.\n"
            )
    body = (
        f"{association_marker(benchmark_id, mlcube_id)}\n"
        f"Requests the association of `{mlcube_id}` with the benchmark `{benchmark_id}`, "
        f"initiated by @{login}.\n{note}\n{markdown_report(summary)}"
    )
    proposal = Proposal(
        branch=associate_branch(
            benchmark_id, mlcube_id, pair.next_attempt(benchmark_id, mlcube_id)
        ),
        path=association_path(benchmark_id, mlcube_id),
        content=dump_yaml(record),
        title=f"Associate {mlcube_id} with {benchmark_id}",
        body=body,
        message=f"Request the association of {mlcube_id} with {benchmark_id}",
        labels=(labels["pending"],),
    )
    return propose(repo, proposal), record


# ---------------------------------------------------------------------------------------
# .medperf.yml


def load_repo_config(path: Path | None) -> dict[str, Any]:
    """A model repository's `.medperf.yml` (validated), or {} when there is none."""
    from medperf_action.validate import validate_file
    from medperf_action.yamlload import load_file

    if path is None:
        for name in (".medperf.yml", ".medperf.yaml"):
            if Path(name).is_file():
                path = Path(name)
                break
        else:
            return {}
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    report = validate_file(path, "model-repo")
    if report.errors:
        raise UsageError(f"{path} is invalid:\n" + "\n".join(f.text() for f in report.errors))
    data = load_file(path).data
    return data if isinstance(data, dict) else {}


def registry_token(token: str | None) -> str | None:
    """The token that opens requests in the registry: --token, $MEDPERF_REGISTRY_TOKEN,
    then $GITHUB_TOKEN (in Actions the workflow's own token cannot fork another repo)."""
    return token or os.environ.get("MEDPERF_REGISTRY_TOKEN") or os.environ.get("GITHUB_TOKEN")
