"""`medperf-action package`: the files MedPerf hosts for an MLCube, written reproducibly.

The equivalent of MedPerf's `scripts/package-mlcube.py --mlcube DIR`. The MLCube is
validated first; then an `assets/` folder (beside the manifest unless `--output` says
otherwise) receives:

* `mlcube.yaml`: the manifest, byte for byte (`container_config.yaml` for MedPerf's
  container-config format, under its own name);
* `parameters.yaml`, when `workspace/parameters.yaml` exists;
* `additional_files.tar.gz`: the contents of `workspace/additional_files` with no
  top-level folder, when that folder holds anything (MedPerf's script omits it too),
  deterministic (`files/targz.py`). A missing folder and an empty one are the same (Git
  keeps no empty folder): no tarball, and the cube gets an empty folder when it runs, as
  MedPerf gives it;
* `image.tar.gz`, with `--image-archive`: the gzipped `docker save`;
* `manifest.json`: name, size and SHA-256 of each file, the image, the cube;
* `model.sig`, with `--sign`: the OpenSSF model signature of the files above but
  manifest.json (`usecases/signatures.py` says what is signed and why);
* `checksums.sha256`: `sha256sum` lines for every other file, sorted by name.

The folder is written atomically: everything goes to a temporary folder beside the
destination, which then takes the destination's place (`files/atomic.py`). A failure
part-way leaves the previous assets, or nothing. An existing destination is replaced only
when it is empty or was written by this tool (its `manifest.json` says so), so
`--output ~` cannot delete a home directory.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.docker.images import (
    ImageRecord,
    archive_layout,
    current_image,
    ensure_image,
    save_image,
)
from medperf_action.adapters.files.atomic import replace_directory, umask
from medperf_action.adapters.files.download import fetch
from medperf_action.adapters.files.targz import CHUNK_SIZE, gzip_regions, write_additional_files
from medperf_action.domain.cube import Cube, find_manifest
from medperf_action.domain.registry.layout import ASSET_FILES, IMAGE_ARCHIVE
from medperf_action.domain.validation import Report
from medperf_action.errors import DockerError, InvalidInput, PackageError, UsageError
from medperf_action.text import Log, human_size, md_code, md_table, silent, table
from medperf_action.usecases.signatures import SignWith, sign_folder

MANIFEST_JSON = "manifest.json"
CHECKSUMS = "checksums.sha256"
ADDITIONAL_TARBALL = ASSET_FILES["additional_files"]
PARAMETERS = "parameters.yaml"
MANIFEST_FORMAT = 1


# ---------------------------------------------------------------------------------------
# The image


@dataclass(frozen=True)
class ImageInfo:
    ref: str | None
    id: str | None = None
    repo_digest: str | None = None
    archive: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "id": self.id,
            "repo_digest": self.repo_digest,
            "archive": self.archive,
        }


def _build_context(cube: Cube) -> tuple[Path | None, Path | None]:
    if cube.format == "mlcube" and cube.build_context is not None and cube.build_context.is_dir():
        return cube.build_context, cube.build_file
    return None, None


def _local_image_info(cube: Cube) -> ImageInfo:
    """Best effort, without building: the image ID if the image is present and current."""
    if not cube.image:
        return ImageInfo(None, note="the manifest names no image")
    if cube.is_archive:
        return ImageInfo(
            None,
            note=f"the image is the archive {cube.image} (DockerArchive); pass --image-archive "
            "to publish it with its SHA-256, as a registry's re-run needs",
        )
    context, build_file = _build_context(cube)
    try:
        record = current_image(cube.image, context, build_file)
        present = record is not None or current_image(cube.image, None, None) is not None
    except DockerError:
        return ImageInfo(cube.image, note="Docker is not reachable; image ID not recorded")
    if record is None and not present:
        return ImageInfo(
            cube.image, note=f"image {cube.image} is not built here; image ID not recorded"
        )
    if record is None:
        return ImageInfo(
            cube.image,
            note=(
                f"the local image {cube.image} is not built from the current build context; "
                "image ID not recorded (pass --image-archive to build it)"
            ),
        )
    return ImageInfo(cube.image, record.id, record.digest_for(cube.image))


def _image(cube: Cube, no_build: bool, log: Log) -> ImageRecord:
    """The cube's image, built when it is not current (unless `no_build`)."""
    if not cube.image:
        raise PackageError(f"{cube.manifest}: names no image")
    if cube.is_archive:
        raise PackageError(
            f"{cube.manifest}: the image is the archive {cube.image} (DockerArchive), "
            "not an image to build or push: package it with --image-archive"
        )
    context, build_file = _build_context(cube)
    return ensure_image(cube.image, context, build_file, no_build=no_build, log=log)


def _built_image_info(cube: Cube, no_build: bool, log: Log) -> ImageInfo:
    record = _image(cube, no_build, log)
    return ImageInfo(cube.image, record.id, record.digest_for(cube.image))


def _image_archive(cube: Cube, dest: Path, no_build: bool, log: Log) -> tuple[ImageInfo, int, str]:
    if cube.is_archive:
        return _copied_archive(cube, dest, log)
    record = _image(cube, no_build, log)
    log(f"saving image {cube.image} ({record.id[:19]}) to {IMAGE_ARCHIVE}")
    size, sha = gzip_regions(save_image(record.id, cube.image), dest)
    return ImageInfo(cube.image, record.id, record.digest_for(cube.image), IMAGE_ARCHIVE), size, sha


def _copied_archive(cube: Cube, dest: Path, log: Log) -> tuple[ImageInfo, int, str]:
    """A DockerArchive's own archive (a URL, or a path beside the config) as image.tar.gz."""
    location = cube.image if "://" in cube.image else str(cube.root / cube.image)
    log(f"fetching the image archive {cube.image} into {IMAGE_ARCHIVE}")
    try:
        path = fetch(location, None, name="the image archive").path
        layout = archive_layout(path)
    except InvalidInput as exc:
        raise PackageError(f"{cube.manifest}: {exc}") from exc
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
        chunks = iter(lambda: handle.read(CHUNK_SIZE), b"")
        size, sha = gzip_regions(chunks, dest)
    return ImageInfo(None, layout.image_id, None, IMAGE_ARCHIVE), size, sha


# ---------------------------------------------------------------------------------------
# The folder


@dataclass(frozen=True)
class AssetFile:
    name: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass
class PackageResult:
    directory: Path
    files: list[AssetFile]
    """Every file in the folder except checksums.sha256, sorted by name."""
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def checksums(self) -> Path:
        return self.directory / CHECKSUMS


def _copy(src: Path, dest: Path) -> AssetFile:
    sha = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(src, "rb", buffering=0) as fin, open(dest, "xb", buffering=0) as fout:
        while n := fin.readinto(buffer):
            chunk = view[:n]
            sha.update(chunk)
            written = 0
            while written < n:
                written += fout.write(chunk[written:]) or 0
            size += n
    return AssetFile(dest.name, size, sha.hexdigest())


def _write_text(dest: Path, text: str) -> AssetFile:
    data = text.encode("utf-8")
    with open(dest, "xb") as f:
        f.write(data)
    return AssetFile(dest.name, len(data), hashlib.sha256(data).hexdigest())


def checksums_text(files: Iterable[AssetFile]) -> str:
    """``sha256sum`` format: ``<hex>  <name>``, sorted by name."""
    return "".join(f"{f.sha256}  {f.name}\n" for f in sorted(files, key=lambda f: f.name))


def _written_by_us(directory: Path) -> bool:
    try:
        if not any(directory.iterdir()):
            return True
        with open(directory / MANIFEST_JSON, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == "medperf-action"


def _holds_anything(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return any(True for _ in entries)


def _check_destination(dest: Path, additional_files: Path) -> None:
    if dest.is_symlink():
        raise PackageError(f"{dest} is a symlink; choose a real folder for the assets")
    if dest.exists():
        if not dest.is_dir():
            raise PackageError(f"{dest} exists and is not a folder")
        if not _written_by_us(dest):
            raise PackageError(
                f"{dest} exists and is not an assets folder written by medperf-action "
                "(no manifest.json of ours); it is left alone: remove it or choose another "
                "--output"
            )
    if additional_files.is_dir():
        real_af = os.path.realpath(additional_files)
        real_parent = os.path.realpath(dest.parent)
        if os.path.commonpath([real_af, real_parent]) == real_af:
            raise PackageError(
                f"{dest} is inside {additional_files}; the assets would package themselves"
            )


def cube_manifest(path: Path) -> Path:
    """The manifest of the MLCube at `path` (a folder or the manifest itself)."""
    if not path.exists():
        raise UsageError(f"no such file or directory: {path}")
    manifest = find_manifest(path)
    if manifest is None or manifest.name not in ("mlcube.yaml", "container_config.yaml"):
        raise UsageError(
            f"{path} is not an MLCube: package takes a folder holding mlcube.yaml, "
            "mlcube/mlcube.yaml or container_config.yaml"
        )
    return manifest


def default_output(cube: Cube) -> Path:
    """`assets/` beside the manifest, as MedPerf's script puts its folder."""
    return cube.root / "assets"


def package_cube(
    report: Report,
    output: Path | None = None,
    *,
    image_archive: bool = False,
    build_image: bool = False,
    no_build: bool = False,
    sign: SignWith | None = None,
    log: Log = silent,
) -> PackageResult:
    """Write the assets folder of a validated cube (`report` from `validate_path`).

    `image_archive` writes the image as image.tar.gz; `build_image` only makes sure the
    image is current and records its ID (for `publish --push-image`); `sign` signs the
    folder as model.sig before it takes the destination's place."""
    cube = report.cube
    if report.kind not in ("mlcube", "container-config") or cube is None:
        target = report.files[0] if report.files else "the path"
        raise UsageError(f"{target} is not an MLCube; package takes an MLCube directory")
    report.raise_errors(
        PackageError,
        f"{cube.manifest} is not a valid MLCube ({len(report.errors)} error(s)); "
        "nothing was written",
    )
    dest = Path(os.path.abspath(output if output is not None else default_output(cube)))
    _check_destination(dest, cube.additional_files)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    except OSError as exc:
        raise PackageError(f"cannot create a folder beside {dest}: {exc}") from exc
    try:
        image = "archive" if image_archive else "build" if build_image else None
        result = _write_assets(cube, report, tmp, image, no_build, log)
        if sign is not None:
            _sign(result, sign, log)
        os.chmod(tmp, 0o755 & ~umask())
        replace_directory(tmp, dest)
    except OSError as exc:
        raise PackageError(f"packaging {cube.manifest} failed: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    result.directory = dest
    return result


def _write_assets(
    cube: Cube, report: Report, tmp: Path, image_mode: str | None, no_build: bool, log: Log
) -> PackageResult:
    notes: list[str] = []
    files: list[AssetFile] = [_copy(cube.manifest, tmp / cube.manifest.name)]
    if cube.parameters_file.is_file():
        files.append(_copy(cube.parameters_file, tmp / PARAMETERS))
    additional: dict[str, Any] | None = None
    if _holds_anything(cube.additional_files):
        stats = write_additional_files(cube.additional_files, tmp / ADDITIONAL_TARBALL)
        files.append(AssetFile(ADDITIONAL_TARBALL, stats.size, stats.sha256))
        additional = {
            "archive": ADDITIONAL_TARBALL,
            "entries": stats.entries,
            "files": stats.files,
            "bytes": stats.content_bytes,
        }
    else:
        notes.append(
            f"{cube.additional_files.relative_to(cube.root)} is missing or empty: "
            f"{ADDITIONAL_TARBALL} not written (the MLCube has no additional files; it gets "
            "an empty folder when it runs, as MedPerf gives it)"
        )
    if image_mode == "archive":
        image, size, sha = _image_archive(cube, tmp / IMAGE_ARCHIVE, no_build, log)
        files.append(AssetFile(IMAGE_ARCHIVE, size, sha))
    elif image_mode == "build":
        image = _built_image_info(cube, no_build, log)
    else:
        image = _local_image_info(cube)
    if image.note:
        notes.append(image.note)
    files.sort(key=lambda f: f.name)
    manifest = {
        "tool": "medperf-action",
        "tool_version": __version__,
        "format": MANIFEST_FORMAT,
        "mlcube": {
            "name": cube.name,
            "format": cube.format,
            "manifest": cube.manifest.name,
            "role": report.role,
            "role_inferred": report.role_inferred,
        },
        "image": image.as_dict(),
        "additional_files": additional,
        "files": [f.as_dict() for f in files],
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    files.append(_write_text(tmp / MANIFEST_JSON, text))
    files.sort(key=lambda f: f.name)
    _write_text(tmp / CHECKSUMS, checksums_text(files))
    return PackageResult(tmp, files, manifest, notes)


def _sign(result: PackageResult, how: SignWith, log: Log) -> None:
    """Sign the written folder; model.sig joins the files and checksums.sha256."""
    log(f"signing the assets {'with ' + str(how.key) if how.key else 'with Sigstore (keyless)'}")
    signature = sign_folder(result.directory, how)
    data = signature.read_bytes()
    result.files.append(AssetFile(signature.name, len(data), hashlib.sha256(data).hexdigest()))
    result.files.sort(key=lambda f: f.name)
    result.checksums.unlink()
    _write_text(result.checksums, checksums_text(result.files))


def files_table(result: PackageResult) -> str:
    """The files with their sizes and SHA-256, one per line."""
    rows = [(f.name, human_size(f.size), f.sha256) for f in result.files]
    rows.append((CHECKSUMS, human_size(result.checksums.stat().st_size), "-"))
    return table(("file", "size", "sha256"), rows, "lr")


def files_markdown(result: PackageResult) -> str:
    rows = [(md_code(f.name), human_size(f.size), md_code(f.sha256)) for f in result.files]
    return (
        "### medperf-action package\n\n" + md_table(("file", "size", "SHA-256"), rows, "lrl") + "\n"
    )
