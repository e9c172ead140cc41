"""`medperf-action package PATH` (MedPerf's `scripts/package-mlcube.py`)."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_action.adapters import ci
from medperf_action.cli import options
from medperf_action.cli.output import err, findings_format, out, render_findings
from medperf_action.domain.validation import validate_path
from medperf_action.errors import PackageError, UsageError
from medperf_action.settings import actions_oidc, in_actions
from medperf_action.usecases.packaging import (
    cube_manifest,
    files_markdown,
    files_table,
    package_cube,
)
from medperf_action.usecases.repo_config import repo_defaults
from medperf_action.usecases.signatures import check_key, sign_method
from medperf_action.usecases.validating import cube_role


@click.command("package")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="The assets folder to write (default: assets/ beside mlcube.yaml). Replaced whole.",
)
@click.option(
    "--image-archive",
    is_flag=True,
    help="Also build the image and write image.tar.gz, a gzipped `docker save`.",
)
@click.option(
    "--build-image",
    is_flag=True,
    help="Build the image when it is not current and record its ID (for publish --push-image).",
)
@click.option(
    "--no-build",
    is_flag=True,
    help="With --image-archive or --build-image: use the local image; never build.",
)
@click.option(
    "--sign",
    is_flag=True,
    help="Sign the assets as model.sig (OpenSSF model signing): with --key, else keyless "
    "with Sigstore as the GitHub Actions job's identity (needs `id-token: write`).",
)
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --sign: the elliptic-curve private key (PEM) to sign with.",
)
@options.role
def package_command(
    path: Path | None,
    output: Path | None,
    image_archive: bool,
    build_image: bool,
    no_build: bool,
    sign: bool,
    key: Path | None,
    role: str | None,
) -> None:
    """Validate the MLCube at PATH, then write its assets folder for publishing.

    The equivalent of MedPerf's `scripts/package-mlcube.py --mlcube DIR`: mlcube.yaml,
    parameters.yaml, additional_files.tar.gz (deterministic, no top-level folder),
    optionally image.tar.gz, manifest.json, with --sign model.sig, and checksums.sha256
    (`sha256sum -c` format). The folder is written atomically: a failure leaves the
    previous one as it was.

    PATH defaults to the MLCube of the repository's .medperf.yml, and the role to its role
    (as `validate` checks it).

    Exit codes: 0 written, 1 invalid MLCube or packaging failed, 2 usage error.
    """
    if path is None:
        path = repo_defaults().mlcube_dir
        if path is None:
            raise UsageError("give PATH, the MLCube folder (or run in a model repository)")
    report = validate_path(cube_manifest(path), role=cube_role(path, role))
    shown = render_findings(report.findings, findings_format(None))
    if shown:
        err(shown)
    if report.errors:
        target = report.files[0] if report.files else str(path)
        raise PackageError(
            f"{target} is not a valid MLCube ({len(report.errors)} error(s), listed above); "
            "nothing was written"
        )
    if image_archive and build_image:
        raise UsageError("--image-archive builds the image already: give one of the two")
    if key is not None and not sign:
        raise UsageError("--key is the key --sign signs with: add --sign")
    how = sign_method(key, in_actions=in_actions(), oidc=actions_oidc()) if sign else None
    if how is not None and how.key is not None:
        check_key(how.key)  # before any packaging work
    result = package_cube(
        report,
        output,
        image_archive=image_archive,
        build_image=build_image,
        no_build=no_build,
        sign=how,
        log=err,
    )
    for note in result.notes:
        err(f"note: {note}")
    out(f"assets written to {result.directory}")
    out(files_table(result))
    ci.add_summary(files_markdown(result))
    ci.set_output("assets-dir", str(result.directory))
    ci.set_json_output("assets-json", result.manifest)
