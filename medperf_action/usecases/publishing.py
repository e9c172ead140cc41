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

from medperf_action.adapters.docker.images import push_image as push_to_registry
from medperf_action.adapters.files.atomic import read_json_object, write_text
from medperf_action.adapters.files.download import fetch
from medperf_action.adapters.files.hashing import sha256_file
from medperf_action.adapters.github import releases
from medperf_action.adapters.github.client import connect
from medperf_action.adapters.github.contents import repository
from medperf_action.errors import PublishError, UsageError
from medperf_action.settings import github_token
from medperf_action.text import Log, silent

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import GitRelease

CHECKSUMS = "checksums.sha256"
RELEASE_JSON = "release.json"


@dataclass(frozen=True)
class Published:
    name: str
    sha256: str
    size: int
    url: str
    action: str  # uploaded | replaced | unchanged


def read_checksums(assets: Path) -> dict[str, str]:
    """`checksums.sha256` (sha256sum format) as {file name: hex digest}."""
    path = assets / CHECKSUMS
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


def _remote_sha256(asset: releases.Asset, token: str | None) -> str:
    """The asset's SHA-256: GitHub's `digest` when it has one, else hashed by download."""
    known = asset.sha256()
    if known:
        return known
    headers = {"Accept": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"token {token}"
    return fetch(asset.api_url, None, headers=headers).sha256


def _plan(
    sums: dict[str, str], existing: dict[str, releases.Asset], token: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """What to do with each file (upload, retry, replace, unchanged), and the SHA-256 of
    each published file that was compared."""
    plan: dict[str, str] = {}
    remote_sha: dict[str, str] = {}
    for name, digest in sums.items():
        if name not in existing:
            plan[name] = "upload"
        elif not existing[name].uploaded:
            # What an upload that failed part-way leaves behind: not a published file.
            plan[name] = "retry"
        else:
            remote_sha[name] = _remote_sha256(existing[name], token)
            plan[name] = "unchanged" if remote_sha[name] == digest else "replace"
    return plan, remote_sha


def publish(
    repo_name: str,
    tag: str,
    assets: Path,
    *,
    clobber: bool = False,
    token: str | None = None,
) -> tuple[str, list[Published]]:
    """Publish every file named in assets/checksums.sha256. Returns (release URL, assets)."""
    token = github_token(token)
    sums = read_checksums(assets)
    _verify_local(assets, sums)
    # The checksums file itself goes along, so a downloader can `sha256sum -c` it.
    sums[CHECKSUMS] = sha256_file(assets / CHECKSUMS)
    repo = repository(connect(token), repo_name)
    release, created = releases.release_for(repo, tag)
    existing = {} if created else releases.assets(release)
    # Decide everything first: a conflict without --clobber changes nothing.
    plan, remote_sha = _plan(sums, existing, token)
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
                releases.delete(existing[name])
            asset = _upload(release, path, sums[name], token)
        done = {"upload": "uploaded", "retry": "uploaded", "replace": "replaced"}.get(
            action, "unchanged"
        )
        published.append(Published(name, sums[name], path.stat().st_size, asset.download_url, done))
    return release.html_url, published


def _upload(release: GitRelease, path: Path, digest: str, token: str | None) -> releases.Asset:
    """Upload one asset; if a retried upload already went through, check and keep it."""
    asset = releases.upload(release, path)
    if asset is not None:
        return asset
    # The first attempt reached GitHub before the connection failed: check what is there.
    found = releases.assets(release).get(path.name)
    if found is not None and not found.uploaded:
        releases.delete(found)  # left by an upload that failed part-way
        again = releases.upload(release, path)
        if again is not None:
            return again
    elif found is not None and _remote_sha256(found, token) == digest:
        return found
    raise PublishError(f"upload {path.name}: GitHub holds a different file of that name")


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
    path = assets / RELEASE_JSON
    write_text(path, text + "\n")
    return path


def push_image(assets: Path, ref: str, log: Log = silent) -> str:
    """Tag the packaged image as REF, push it, return REF's repository @ the pushed digest."""
    manifest_path = assets / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(f"{assets}: no manifest.json (run `medperf-action package` first)")
    manifest = read_json_object(manifest_path, "run `medperf-action package` again")
    image = manifest.get("image") or {}
    image_id = image.get("id") if isinstance(image, dict) else None
    if not image_id:
        raise PublishError(
            "manifest.json records no image ID; package with --image-archive, or build the "
            "image first (`medperf-action test`)"
        )
    repository_name, tag = _split_ref(ref)
    digest = push_to_registry(str(image_id), repository_name, tag, log)
    return f"{repository_name}@{digest}"


def _split_ref(ref: str) -> tuple[str, str]:
    """`host:5000/name:tag` -> (`host:5000/name`, `tag`); no tag means `latest`."""
    if "@" in ref:
        raise UsageError(f"--push-image {ref}: give a tag, not a digest")
    if ":" in ref.rsplit("/", 1)[-1]:
        repository_name, tag = ref.rsplit(":", 1)
        return repository_name, tag
    return ref, "latest"
