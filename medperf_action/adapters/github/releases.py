"""Releases and their assets: get or create a release, list, upload and delete assets.

Uploads stream from disk. A create or upload whose first attempt reached GitHub before
the connection failed answers 422 `already_exists` when retried; both are handled here,
so re-running after a failure part-way never duplicates a release or an asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_action.adapters.github.client import call, is_status
from medperf_action.errors import GitHubError

if TYPE_CHECKING:
    from github.GitRelease import GitRelease
    from github.GitReleaseAsset import GitReleaseAsset
    from github.Repository import Repository


@dataclass(frozen=True)
class Asset:
    """A release asset as listed: name, whether its upload finished, where to get it."""

    name: str
    uploaded: bool
    digest: str | None  # GitHub's `sha256:…`, when it computed one
    api_url: str  # download with Accept: application/octet-stream
    download_url: str
    handle: GitReleaseAsset

    @classmethod
    def of(cls, asset: GitReleaseAsset) -> Asset:
        return cls(
            asset.name,
            asset.state == "uploaded",
            asset.digest,
            asset.url,
            asset.browser_download_url,
            asset,
        )

    def sha256(self) -> str | None:
        """GitHub's own SHA-256 of the asset, when it has one."""
        if self.digest and self.digest.startswith("sha256:"):
            return self.digest.split(":", 1)[1]
        return None


def release_for(repo: Repository, tag: str) -> tuple[GitRelease, bool]:
    """The release for `tag`, created when missing. Returns (release, created)."""
    action = f"get or create the release {tag} in {repo.full_name}"
    try:
        return call(action, lambda: repo.get_release(tag)), False
    except GitHubError as exc:
        if exc.status != 404:
            raise
    try:
        release = call(
            action, lambda: repo.create_git_release(tag, name=tag, message=f"MedPerf MLCube {tag}")
        )
        return release, True
    except GitHubError as exc:
        # A retried create whose first attempt went through: the release exists now.
        if is_status(exc, 422, "already_exists"):
            return call(action, lambda: repo.get_release(tag)), False
        raise


def assets(release: GitRelease) -> dict[str, Asset]:
    return call(
        "list the release's assets", lambda: {a.name: Asset.of(a) for a in release.get_assets()}
    )


def delete(asset: Asset) -> None:
    call(f"delete the old {asset.name}", asset.handle.delete_asset)


def content_type(path: Path) -> str:
    if path.name.endswith(".gz"):
        return "application/gzip"
    return "application/json" if path.suffix == ".json" else "application/octet-stream"


def upload(release: GitRelease, path: Path) -> Asset | None:
    """Upload one file as an asset; None when a retried upload had gone through already
    (the caller checks what GitHub holds under that name)."""
    try:
        return Asset.of(
            call(
                f"upload {path.name}",
                lambda: release.upload_asset(
                    str(path), name=path.name, content_type=content_type(path)
                ),
            )
        )
    except GitHubError as exc:
        if is_status(exc, 422, "already_exists"):
            return None
        raise
