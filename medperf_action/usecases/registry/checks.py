"""The checks `registry verify` makes of a request, each giving one `Check`.

Nothing here trusts the PR: its files are read at its head through the API (never checked
out, imported or run), and everything they claim is checked against the registry's
default branch.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.download import fetch
from medperf_action.adapters.github.contents import RepoFiles
from medperf_action.domain.findings import Finding
from medperf_action.domain.metrics import differences
from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.domain.registry.layout import association_path, classify, mlcube_path
from medperf_action.domain.registry.pins import changed, pin_of, unpinned, uses
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.requests import Request, RequestPull, pair_requests
from medperf_action.domain.validation import validate_file, validate_path
from medperf_action.domain.yamldoc import load_text
from medperf_action.errors import (
    DownloadError,
    DownloadTooLarge,
    GitHubError,
    HashMismatch,
    InsecureSource,
    InvalidInput,
    MedperfError,
    RegistryInvalid,
    SignatureInvalid,
    YamlError,
)
from medperf_action.text import Log, shorten
from medperf_action.usecases.signatures import entry_files, identities, verify_files

MAX_DETAIL = 4000
SCHEMA_KINDS = {
    "mlcube": "mlcube-entry",
    "association": "association",
    "benchmark": "benchmark",
    "registry": "registry",
    "dataset": "dataset",
    "dataset-association": "dataset-association",
    "result": "result",
}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": shorten(self.detail, MAX_DETAIL),
        }


def _findings_text(findings: list[Finding], limit: int = 20) -> str:
    lines = [f.text() for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"... and {len(findings) - limit} more")
    return "\n".join(lines)


def check_schema(
    head: RepoFiles, req: Request, sha: str
) -> tuple[Check, dict[str, dict[str, Any]]]:
    """Every changed file, read at the PR's head, against its schema and the id rules."""
    errors: list[Finding] = []
    missing: list[str] = []
    data: dict[str, dict[str, Any]] = {}
    checked = 0
    for change in req.changes:
        kind = SCHEMA_KINDS.get(classify(change.path).kind)
        if change.status == "removed" or kind is None:
            continue
        try:
            text = head.read(change.path)
        except (GitHubError, InvalidInput) as exc:
            missing.append(str(exc))
            continue
        if text is None:
            missing.append(f"{change.path}: not found at the PR's head {sha[:12]}")
            continue
        checked += 1
        report = validate_file(Path(change.path), kind, text=text, shown_as=change.path)
        errors.extend(report.errors)
        if not report.errors:
            loaded = load_text(text).data
            if isinstance(loaded, dict):
                data[change.path] = loaded
    if errors or missing:
        detail = "\n".join([*missing, _findings_text(errors)]).strip()
        return Check("schema", False, detail), data
    return Check("schema", True, f"{checked} file(s) valid at {sha[:12]}"), data


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def summary_problems(entry: dict[str, Any], benchmark_id: str, mlcube_id: str) -> list[str]:
    """Where the execution summary disagrees with the request it is part of.

    Only `result.metrics` is compared with the registry's re-run, but the summary is shown
    in the PR and committed on approval, so it must say the same: `summary.metrics.candidate`
    equal to `result.metrics`, `summary.passed` to `result.passed`, and the summary's
    candidate cube and benchmark the request's own."""
    result, summary = _object(entry.get("result")), _object(entry.get("summary"))
    problems = []
    metrics = _object(summary.get("metrics"))
    differ = differences(metrics.get("candidate"), result.get("metrics"))
    if differ:
        shown = ", ".join(differ[:10]) + (f" and {len(differ) - 10} more" if differ[10:] else "")
        problems.append(
            f"summary.metrics.candidate differs from result.metrics ({shown}): the summary "
            "must report the metrics the request reports"
        )
    if summary.get("passed") != result.get("passed"):
        problems.append(
            f"summary.passed is {summary.get('passed')!r}, but result.passed is "
            f"{result.get('passed')!r}"
        )
    candidate = _object(_object(summary.get("cubes")).get("candidate"))
    if candidate.get("id") != mlcube_id:
        problems.append(
            f"summary.cubes.candidate.id is {candidate.get('id')!r}, but the request is for "
            f"the mlcube {mlcube_id!r}"
        )
    bench = _object(summary.get("benchmark"))
    if bench.get("id") != benchmark_id:
        problems.append(
            f"summary.benchmark.id is {bench.get('id')!r}, but the request is for the "
            f"benchmark {benchmark_id!r}"
        )
    return problems


@dataclass(frozen=True)
class Asked:
    """A request as its rules see it: the default branch, what the PR asks for, its file
    at the PR's head, who opened it, and the registry's open requests (listed when asked)."""

    base: Registry
    req: Request
    entry: dict[str, Any]
    author: str
    number: int
    open_requests: Callable[[], list[RequestPull]]


def pending_problems(entry: dict[str, Any], author: str) -> list[str]:
    """A pair request's own file: PENDING, and initiated by whoever opened the PR."""
    problems = []
    if entry.get("status") != "PENDING":
        problems.append(f"status is {entry.get('status')!r}; a request is PENDING")
    if str(entry.get("initiated_by", "")).lower() != author.lower():
        problems.append(
            f"initiated_by is {entry.get('initiated_by')!r}, but the PR was opened by {author}"
        )
    return problems


def others_open(asked: Asked, member: str, owner: str | None) -> list[str]:
    """Another open request for the pair (benchmark, `member`), when there is one. Only
    the requests that count for the pair (its owner's) block it: anybody else's PR carrying
    the pair's marker does not."""
    req = asked.req
    assert req.benchmark is not None
    pairs = pair_requests(asked.open_requests(), req.benchmark, member, owner, req.kind)
    others = [r.number for r in pairs if r.number != asked.number]
    if not others:
        return []
    return ["another request for this pair is open: " + ", ".join(f"#{n}" for n in others)]


def _entry_problems(entry: dict[str, Any], author: str, b: str, m: str) -> list[str]:
    """What the request's own file says wrong: status, initiator, result, summary."""
    problems = pending_problems(entry, author)
    if (entry.get("result") or {}).get("passed") is not True:
        problems.append("the reported test did not pass (result.passed is not true)")
    return problems + summary_problems(entry, b, m)


def _registered_problems(
    base: Registry, author: str, b: str, m: str
) -> tuple[list[str], bool, str | None]:
    """What the default branch says against the pair: (problems, runnable, mlcube owner)."""
    problems = []
    runnable = True
    owner: str | None = None
    try:
        bench = base.benchmark(b)
        if bench.get("approval_status") != "APPROVED":
            problems.append(
                f"benchmark {b} is {bench.get('approval_status')}; "
                "models associate only with an APPROVED benchmark"
            )
    except (RegistryInvalid, InvalidInput, GitHubError) as exc:
        problems.append(f"benchmark {b}: {exc}")
        runnable = False
    try:
        cube = base.mlcube(m)
        owner = str(cube.get("owner", "")) or None
        if cube.get("role") != "model":
            problems.append(f"mlcube {m} has role {cube.get('role')!r}; only a model associates")
            runnable = False
        if str(cube.get("owner", "")).lower() != author.lower():
            problems.append(
                f"mlcube {m} belongs to {cube.get('owner')}; only its owner requests its "
                "associations"
            )
    except (RegistryInvalid, InvalidInput, GitHubError) as exc:
        problems.append(f"mlcube {m}: {exc} (submit it, and have it merged, first)")
        runnable = False
    if base.source.read(association_path(b, m)) is not None:
        problems.append(
            f"the default branch already holds associations/{b}/{m}.yaml "
            "(an approved pair is never requested again)"
        )
    return problems, runnable, owner


def check_association(asked: Asked) -> tuple[Check, bool]:
    """The registry's rules for a request; also whether the pair can be re-run."""
    req, author = asked.req, asked.author
    assert req.benchmark is not None and req.mlcube is not None
    b, m = req.benchmark, req.mlcube
    problems = _entry_problems(asked.entry, author, b, m)
    registered, runnable, owner = _registered_problems(asked.base, author, b, m)
    problems += registered + others_open(asked, m, owner)
    if problems:
        return Check("rules", False, "; ".join(problems)), runnable
    detail = (
        f"PENDING request by {author}; benchmark {b} is APPROVED; mlcube {m} is "
        f"{author}'s submitted model; no other request for the pair"
    )
    return Check("rules", True, detail), runnable


def check_submission(base: Registry, req: Request, entry: dict[str, Any], author: str) -> Check:
    assert req.mlcube is not None
    problems = []
    owner = str(entry.get("owner", ""))
    if owner.lower() != author.lower():
        problems.append(f"owner is {owner!r}, but the PR was opened by {author}")
    why = unpinned(entry)
    if why is not None:
        problems.append(f"the entry does not pin what runs: {why}")
    held = base.source.read(mlcube_path(req.mlcube))
    if held is not None:
        try:
            current = load_text(held).data
        except YamlError:
            current = None
        holder = current.get("owner") if isinstance(current, dict) else None
        if holder is None or str(holder).lower() != owner.lower():
            problems.append(
                f"the id {req.mlcube} is held by {holder!r} on the default branch; "
                "a submission never takes over another owner's id"
            )
        elif isinstance(current, dict):
            problems += _frozen(base, req.mlcube, current, entry)
    if problems:
        return Check("rules", False, "; ".join(problems))
    what = "an update of" if held is not None else "a new"
    return Check("rules", True, f"{what} mlcube owned by {owner}, the PR's author")


def _frozen(
    base: Registry, mlcube_id: str, current: dict[str, Any], entry: dict[str, Any]
) -> list[str]:
    """An update of an mlcube in operation may change its description, not what runs."""
    differ = changed(pin_of(current), pin_of(entry))
    if not differ:
        return []
    try:
        in_use = uses(base, mlcube_id)
    except (RegistryInvalid, InvalidInput, GitHubError) as exc:  # fail closed
        return [f"whether mlcube {mlcube_id} is in operation could not be read: {exc}"]
    if not in_use:
        return []
    return [
        f"mlcube {mlcube_id} is in operation ({'; '.join(in_use)}), so what was verified of "
        f"it cannot change, but this update changes {', '.join(differ)}: publish the new "
        "version under a new id"
    ]


def _assets(entry: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, asset in (entry.get("assets") or {}).items():
        yield f"assets.{name}", asset
    archive = (entry.get("image") or {}).get("archive")
    if archive:
        yield "image.archive", archive


def in_general_terms(exc: MedperfError) -> str:
    """An error for the registry's comment. A failed download is said in general terms:
    what a remote page answered (its status, the hash of what it served) is not echoed."""
    if isinstance(exc, HashMismatch):
        return "a download's content is not what its SHA-256 names"
    if isinstance(exc, DownloadError):
        return "a download failed"
    if isinstance(exc, DownloadTooLarge):
        return "a download is larger than allowed (its declared size, or the registry's limit)"
    if isinstance(exc, InsecureSource):
        return "a URL is not https"
    return str(exc)


def check_assets(entry: dict[str, Any], config: RegistryConfig, log: Log) -> list[Check]:
    """Download every asset into a fresh folder (a warm cache proves nothing about what the
    URL serves), over https only and no more than its declared size (or the registry's
    limit), and check its SHA-256; then validate the downloaded manifest, and check the
    model signature of the downloads (`check_signature`)."""
    if "path" in entry:
        return [Check("assets", False, "a `path:` entry works only in a local registry")]
    problems, done = [], []
    downloaded: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="medperf-verify-") as tmp:
        manifest = None
        for name, asset in _assets(entry):
            url = asset["url"]
            log(f"verify: download {name} {url}")
            try:
                got = fetch(
                    url,
                    asset["sha256"],
                    cache=Path(tmp) / "cache",
                    name=name,
                    max_bytes=asset.get("size") or config.max_asset_bytes,
                    secure=True,
                )
            except MedperfError as exc:
                log(f"verify: {name}: {exc}")  # the details stay in the job's log
                problems.append(f"{name}: {in_general_terms(exc)}")
                continue
            done.append(name)
            downloaded[name] = got.path
            if name == "assets.mlcube":
                # MedPerf's two formats, told apart by the published file's name.
                is_config = url.rsplit("/", 1)[-1] == "container_config.yaml"
                where = "container_config.yaml" if is_config else "mlcube/mlcube.yaml"
                manifest = Path(tmp) / "cube" / where
                manifest.parent.mkdir(parents=True)
                shutil.copyfile(got.path, manifest)
        if manifest is not None:
            report = validate_path(manifest, role=entry.get("role"), manifest_only=True)
            for finding in report.errors:
                problems.append(f"the published mlcube.yaml: {finding.body()}")
        signature = check_signature(entry, config, downloaded)
    signed = [signature] if signature is not None else []
    reference = (entry.get("image") or {}).get("reference")
    note = f"; image {reference} is pinned by digest (pulled when run)" if reference else ""
    if problems:
        return [Check("assets", False, "; ".join(problems)), *signed]
    done_text = f"{len(done)} asset(s) downloaded, SHA-256 matched: {', '.join(done)}"
    return [Check("assets", True, done_text + note), *signed]


def check_signature(
    entry: dict[str, Any], config: RegistryConfig, downloaded: dict[str, Path]
) -> Check | None:
    """The entry's model signature against its downloaded assets and registry.yaml's
    `signatures.identities`: a missing one (when required), one that does not match the
    assets, or one by nobody listed fails. None: unsigned, and nothing requires it."""
    if not (entry.get("assets") or {}).get("signature"):
        if not config.signatures_required:
            return None
        why = (
            "registry.yaml requires a model signature, and the entry names none "
            "(assets.signature): sign with `package --sign`, publish, and submit again"
        )
        return Check("signature", False, why)
    accepted = identities(config.signature_identities)
    if not accepted:
        return Check("signature", True, "signed, but registry.yaml lists no identity: not checked")
    if "assets.signature" not in downloaded or "assets.mlcube" not in downloaded:
        return Check("signature", False, "not checked: an asset could not be downloaded")
    files = entry_files(entry, downloaded)
    try:
        signer = verify_files(files, downloaded["assets.signature"], accepted)
    except SignatureInvalid as exc:
        return Check("signature", False, f"refused: {exc}")
    image = entry.get("image") or {}
    if config.signatures_required and not image.get("archive"):
        # What runs is the image: pinned by reference, nobody's signature covers it.
        why = (
            f"signed by {signer}, but the image is pinned by reference "
            f"({image.get('reference') or image.get('name')}), which the signature does not "
            "cover, and registry.yaml requires signed models: publish the image as an "
            "archive (package --image-archive --sign), so that it is signed too"
        )
        return Check("signature", False, why)
    return Check("signature", True, f"signed by {signer}: {', '.join(sorted(files))} match")
