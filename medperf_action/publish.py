"""`medperf-action publish`: the packaged assets as the assets of a GitHub release.

Idempotent: the release is created once and reused; an asset whose SHA-256 already matches
`checksums.sha256` is left alone; one that differs is replaced only with `--clobber`, and
without it the command stops before changing anything. Re-running after a failure part-way
finishes the job without duplicates. Uploads stream from disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.errors import MedperfError, UsageError
from medperf_action.github_api import call, is_status

if TYPE_CHECKING:
    from github.GitRelease import GitRelease
    from github.GitReleaseAsset import GitReleaseAsset
    from github.Repository import Repository


class PublishError(MedperfError):
    """The assets cannot be published as asked."""


@dataclass
class Published:
    name: str
    sha256: str
    size: int
    url: str
    action: str  # uploaded | replaced | unchanged


def read_json_file(path: Path, remedy: str) -> dict[str, Any]:
    """One of the assets' JSON records (manifest.json, release.json) as an object; a file
    that is unreadable, not JSON or not an object is a UsageError saying `remedy`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc}); {remedy}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc}); {remedy}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a JSON object; {remedy}")
    return data


def read_checksums(assets: Path) -> dict[str, str]:
    """`checksums.sha256` (sha256sum format) as {file name: hex digest}."""
    path = assets / "checksums.sha256"
    if not path.is_file():
        raise UsageError(f"{assets}: no checksums.sha256 (run `medperf-action package` first)")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        name = name.lstrip("*")
        if not sep or len(digest) != 64 or "/" in name or not name:
            raise PublishError(f"{path}:{number}: not a sha256sum line: {line!r}")
        sums[name] = digest.lower()
    return sums


def _verify_local(assets: Path, sums: dict[str, str]) -> None:
    from medperf_action.fetch import sha256_file

    for name, digest in sums.items():
        path = assets / name
        if not path.is_file():
            raise PublishError(f"{path}: listed in checksums.sha256 but missing")
        actual = sha256_file(path)
        if actual != digest:
            raise PublishError(
                f"{path}: SHA-256 {actual} does not match checksums.sha256 ({digest}); "
                "package again"
            )


def _asset_sha256(asset: GitReleaseAsset, token: str | None) -> str:
    """The asset's SHA-256: GitHub's `digest` when it has one, else hashed by download."""
    digest = asset.digest
    if digest and digest.startswith("sha256:"):
        return digest.split(":", 1)[1]
    from medperf_action.fetch import fetch

    headers = {"Accept": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"token {token}"
    return fetch(asset.url, None, headers=headers, progress=False).sha256


def _release(repo: Repository, tag: str) -> tuple[GitRelease, bool]:
    """The release for tag, created when missing. Returns (release, created)."""
    from github import GithubException

    try:
        return repo.get_release(tag), False
    except GithubException as exc:
        if exc.status != 404:
            raise
    try:
        release = repo.create_git_release(tag, name=tag, message=f"MedPerf MLCube {tag}")
        return release, True
    except GithubException as exc:
        # A retried create whose first attempt went through: the release exists now.
        if is_status(exc, 422, "already_exists"):
            return repo.get_release(tag), False
        raise


def publish(
    repo_name: str,
    tag: str,
    assets: Path,
    *,
    clobber: bool = False,
    token: str | None = None,
    log: Any = print,
) -> tuple[str, list[Published]]:
    """Publish every file named in assets/checksums.sha256. Returns (release URL, assets)."""
    from medperf_action.fetch import sha256_file
    from medperf_action.github_api import connect, resolve_token

    token = resolve_token(token)
    sums = read_checksums(assets)
    _verify_local(assets, sums)
    # The checksums file itself goes along, so a downloader can `sha256sum -c` it.
    sums["checksums.sha256"] = sha256_file(assets / "checksums.sha256")
    gh = connect(token)
    repo = gh.get_repo(repo_name)
    release, created = call(
        f"get or create the release {tag} in {repo_name}", lambda: _release(repo, tag)
    )
    existing: dict[str, GitReleaseAsset] = {}
    if not created:
        existing = call(
            "list the release's assets", lambda: {a.name: a for a in release.get_assets()}
        )

    # Decide everything first: a conflict without --clobber changes nothing.
    plan: dict[str, str] = {}
    remote_sha: dict[str, str] = {}
    for name, digest in sums.items():
        if name not in existing:
            plan[name] = "upload"
            continue
        if existing[name].state != "uploaded":
            # What an upload that failed part-way leaves behind: not a published file.
            plan[name] = "retry"
            continue
        remote_sha[name] = call(
            f"hash the published {name}", lambda a=existing[name]: _asset_sha256(a, token)
        )
        plan[name] = "unchanged" if remote_sha[name] == digest else "replace"
    conflicts = [n for n, act in plan.items() if act == "replace"]
    if conflicts and not clobber:
        lines = [f"  {n}: published {remote_sha[n]}, local {sums[n]}" for n in conflicts]
        raise PublishError(
            f"release {tag} already has different assets of the same name (use --clobber "
            "to replace them); nothing was changed:\n" + "\n".join(lines)
        )

    published: list[Published] = []
    for name, action in plan.items():
        path = assets / name
        if action == "unchanged":
            asset = existing[name]
        else:
            if action in ("replace", "retry"):
                call(f"delete the old {name}", existing[name].delete_asset)
            asset = call(
                f"upload {name}", lambda p=path, n=name: _upload(release, p, sums[n], token)
            )
        done = {"upload": "uploaded", "retry": "uploaded", "replace": "replaced"}.get(
            action, "unchanged"
        )
        if done != "unchanged":
            log(f"{done} {name}")
        published.append(
            Published(name, sums[name], path.stat().st_size, asset.browser_download_url, done)
        )
    return release.html_url, published


def _upload(release: GitRelease, path: Path, digest: str, token: str | None) -> GitReleaseAsset:
    """Upload one asset; if a retried upload already went through, check and keep it."""
    from github import GithubException

    content_type = (
        "application/gzip"
        if path.name.endswith(".gz")
        else ("application/json" if path.suffix == ".json" else "application/octet-stream")
    )
    try:
        return release.upload_asset(str(path), name=path.name, content_type=content_type)
    except GithubException as exc:
        if not is_status(exc, 422, "already_exists"):
            raise
    # The first attempt reached GitHub before the connection failed: check what is there.
    asset = next((a for a in release.get_assets() if a.name == path.name), None)
    if asset is not None and asset.state != "uploaded":
        asset.delete_asset()  # left by an upload that failed part-way
        return release.upload_asset(str(path), name=path.name, content_type=content_type)
    if asset is None or _asset_sha256(asset, token) != digest:
        raise PublishError(f"upload {path.name}: GitHub holds a different file of that name")
    return asset


def outputs_json(
    release_url: str,
    published: list[Published],
    image_digest: str | None = None,
    *,
    repository: str | None = None,
    tag: str | None = None,
) -> str:
    """What `submit` needs: the release, each asset's URL and SHA-256, the image digest."""
    assets = {p.name: {"url": p.url, "sha256": p.sha256, "size": p.size} for p in published}
    doc: dict[str, Any] = {"release_url": release_url, "assets": assets}
    if repository:
        doc["repository"] = repository
    if tag:
        doc["tag"] = tag
    if image_digest:
        doc["image"] = image_digest
    return json.dumps(doc, indent=2, sort_keys=True)


def write_record(assets: Path, text: str) -> Path:
    """Keep the publish result beside the assets (release.json) for `submit`."""
    path = assets / "release.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def push_image(assets: Path, ref: str, log: Any = print) -> str:
    """Tag the packaged image as REF, push it, return REF's repository @ the pushed digest."""
    from medperf_action.docker_runner import get_client

    manifest_path = assets / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(f"{assets}: no manifest.json (run `medperf-action package` first)")
    manifest = read_json_file(manifest_path, "run `medperf-action package` again")
    image = manifest.get("image") or {}
    image_id = image.get("id") if isinstance(image, dict) else None
    if not image_id:
        raise PublishError(
            "manifest.json records no image ID; package with --image-archive, or build the "
            "image first (`medperf-action test`)"
        )
    repository, tag = _split_ref(ref)
    client = get_client()
    digest = None
    try:
        client.images.get(image_id).tag(repository, tag)
        for event in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise PublishError(f"push {ref}: {event['error']}")
            if event.get("status"):
                log(f"[push] {event['status']} {event.get('progress', '')}".rstrip())
            digest = (event.get("aux") or {}).get("Digest", digest)
    except PublishError:
        raise
    except Exception as exc:  # docker.errors.* and connection errors
        raise PublishError(f"push {ref}: {exc}") from None
    if not digest:
        raise PublishError(f"push {ref}: the registry reported no digest")
    return f"{repository}@{digest}"


def _split_ref(ref: str) -> tuple[str, str]:
    """`host:5000/name:tag` -> (`host:5000/name`, `tag`); no tag means `latest`."""
    if "@" in ref:
        raise UsageError(f"--push-image {ref}: give a tag, not a digest")
    if ":" in ref.rsplit("/", 1)[-1]:
        repository, tag = ref.rsplit(":", 1)
        return repository, tag
    return ref, "latest"
