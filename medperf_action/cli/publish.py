"""`medperf-action publish`: the packaged assets as a GitHub release's assets."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli.output import err, out
from medperf_action.errors import UsageError
from medperf_action.settings import this_repository
from medperf_action.usecases.publishing import outputs_json, publish, push_image, write_record
from medperf_action.usecases.repo_config import repo_defaults


@click.command("publish")
@click.option("--tag", required=True, help="The release's tag, e.g. v1.0.0.")
@click.option("--repo", help="OWNER/REPO (default: $GITHUB_REPOSITORY).")
@click.option(
    "--assets",
    type=click.Path(path_type=Path, file_okay=False),
    help="The folder `medperf-action package` wrote (default: assets/ in the MLCube folder "
    ".medperf.yml names, else mlcube/assets).",
)
@click.option("--clobber", is_flag=True, help="Replace published assets that differ.")
@click.option(
    "--push-image",
    "push_ref",
    metavar="REF",
    help="Also push the image to this OCI reference and record its digest.",
)
@click.option("--token", help="GitHub token (default: $GITHUB_TOKEN). Never printed.")
def publish_command(
    tag: str,
    repo: str | None,
    assets: Path | None,
    clobber: bool,
    push_ref: str | None,
    token: str | None,
) -> None:
    """Publish the packaged assets as the assets of a GitHub release.

    The release for TAG is created if missing and reused if present. An asset whose
    SHA-256 matches checksums.sha256 is left as it is; one that differs is replaced only
    with --clobber, and without it nothing changes. Re-running after a failure finishes
    the job without duplicates.
    """
    assets = assets or (repo_defaults().mlcube_dir or Path("mlcube")) / "assets"
    repo = this_repository(repo)
    if not repo or "/" not in repo:
        raise UsageError("--repo OWNER/REPO is needed (or $GITHUB_REPOSITORY)")
    image_digest = push_image(assets, push_ref, log=err) if push_ref else None
    release_url, published = publish(repo, tag, assets, clobber=clobber, token=token)
    out(f"release: {release_url}")
    for item in published:
        out(f"{item.action:9}  {item.name}  {item.sha256}  {item.url}")
    if image_digest:
        out(f"image: {image_digest}")
    record = outputs_json(release_url, published, image_digest, repository=repo, tag=tag)
    write_record(assets, record)
    ci.set_output("release-url", release_url)
    ci.set_output("assets-json", record)
    if image_digest:
        ci.set_output("image-digest", image_digest)
