"""The four cubes of a compatibility test: where each comes from, checked before use.

A cube is a local MLCube directory, a registry entry with a local `path:` (a checkout), or
a registry entry's published assets, each downloaded by URL and SHA-256 into the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.download import fetch
from medperf_action.adapters.files.extract import safe_extract
from medperf_action.domain.cube import Cube, find_manifest
from medperf_action.domain.registry.pins import unpinned
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.validation import validate_path
from medperf_action.errors import CubeInvalid, RegistryInvalid, UsageError
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.signatures import entry_signed_assets, verify_downloaded

#: The participants' keys, in the workflow's order, and the MedPerf role each must have.
ROLE_OF = {
    "data_preparator": "data-preparator",
    "candidate": "model",
    "reference_model": "model",
    "evaluator": "metrics",
}


#: How the two models that infer and are scored are called, in the progress lines, the
#: task table and the folders of their predictions.
SUBJECT_NAMES = {"candidate": "candidate", "reference_model": "reference"}


@dataclass(frozen=True)
class Participant:
    """One cube in the run: its place in the workflow, where it came from, its image."""

    key: str
    id: str | None
    cube: Cube
    image: str = ""
    image_id: str | None = None
    digest: str | None = None
    build: bool = True
    archive: dict[str, Any] | None = None  # a published `docker save` (url, sha256, size)
    #: A published cube's assets by name: their SHA-256s (what its result statement names).
    assets: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        """The cube's one name in the header, the progress lines, the task table and the
        summary: its registry id when known, else its manifest's `name`, else its folder."""
        if self.id:
            return self.id
        if self.cube.name:
            return self.cube.name
        root = self.cube.root
        return root.parent.name if root.name == "mlcube" else root.name

    @property
    def image_ref(self) -> str:
        return self.image or self.cube.image

    def with_image(self, image_id: str, digest: str | None) -> Participant:
        return dataclasses.replace(self, image=self.image_ref, image_id=image_id, digest=digest)

    def as_summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.cube.name,
            "image": self.image_ref,
            "image_id": self.image_id,
            "digest": self.digest,
        }


def verify_entry_signature(entry: dict[str, Any], public_key: Path, opts: Options) -> str:
    """A registry entry's signature, checked against `public_key` before anything of it
    runs: its signed assets and signature downloaded through the cache (by hash)."""
    downloaded = {
        key: fetch(asset["url"], asset["sha256"], cache=opts.cache, name=key).path
        for key, asset in entry_signed_assets(entry).items()
    }
    return verify_downloaded(entry, downloaded, public_key)


def load_cube(path: Path, key: str, *, published: bool = False) -> Cube:
    """The MLCube at `path`, valid for the role its place in the workflow needs. A
    published cube is its manifest, parameters and additional files: what it names beside
    them (a build context, an image archive's path) is not published, and not needed (its
    entry pins the image), so only what is there is checked."""
    manifest = find_manifest(path)
    if manifest is None:
        raise UsageError(f"{path}: no mlcube.yaml, mlcube/mlcube.yaml or container_config.yaml")
    report = validate_path(manifest, role=ROLE_OF[key], manifest_only=published)
    report.raise_errors(
        CubeInvalid, f"the {key.replace('_', ' ')} at {path} is not a valid {ROLE_OF[key]} MLCube"
    )
    assert report.cube is not None
    return report.cube


def from_entry(
    registry: Registry, mlcube_id: str, key: str, cache: Path, opts: Options
) -> Participant:
    """A registry's mlcube entry: a local `path:`, or published assets fetched by hash."""
    entry = registry.mlcube(mlcube_id)
    if opts.untrusted is not None and (why := unpinned(entry)) is not None:
        # The registry's re-run runs only what an entry pins: what it verifies is then
        # what the approval records, and what a data owner will run.
        raise RegistryInvalid(f"mlcube {mlcube_id} cannot be verified: {why}")
    image = entry.get("image") or {}
    if "path" in entry:
        cube = load_cube(registry.resolve(entry["path"]), key)
        return Participant(key, mlcube_id, cube, image=image.get("name", ""))
    cube = load_cube(_published_cube(entry["assets"], cache, opts), key, published=True)
    reference = image.get("reference")
    return Participant(
        key,
        mlcube_id,
        cube,
        image=reference or image.get("name", ""),
        digest=reference,
        build=False,
        archive=image.get("archive"),
        assets={name: str(a["sha256"]).lower() for name, a in entry["assets"].items()},
    )


def _published_cube(assets: dict[str, Any], cache: Path, opts: Options) -> Path:
    """The published assets as an MLCube folder in the cache, named by their hashes."""
    digest = hashlib.sha256(json.dumps(assets, sort_keys=True).encode()).hexdigest()
    root = cache / "cubes" / digest
    # MedPerf's two formats: mlcube.yaml, or a container config (workspace/ beside it).
    is_config = assets["mlcube"]["url"].rsplit("/", 1)[-1] == "container_config.yaml"
    manifest = Path("container_config.yaml") if is_config else Path("mlcube", "mlcube.yaml")
    if (root / manifest).is_file():
        return root
    tmp = cache / "cubes" / f".tmp-{digest}-{uuid.uuid4().hex}"
    workspace = tmp / manifest.parent / "workspace"
    workspace.mkdir(parents=True)

    def get(name: str) -> Path:
        asset = assets[name]
        return fetch(
            asset["url"],
            asset["sha256"],
            cache=cache,
            name=name,
            progress=opts.progress,
            log=opts.log,
            **opts.fetch_limits(asset.get("size")),
        ).path

    try:
        shutil.copyfile(get("mlcube"), tmp / manifest)
        if "parameters" in assets:
            shutil.copyfile(get("parameters"), workspace / "parameters.yaml")
        if "additional_files" in assets:
            safe_extract(
                get("additional_files"),
                workspace / "additional_files",
                max_total_bytes=opts.max_extract_bytes,
            )
        os.replace(tmp, root)
    except OSError:
        if not (root / manifest).is_file():  # else another run put the same cube there
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def resolve_participants(
    opts: Options, benchmark: dict[str, Any] | None, registry: Registry | None, cache: Path
) -> dict[str, Participant]:
    """The four participants, in the workflow's order (`ROLE_OF`)."""
    overrides = {
        "data_preparator": opts.data_preparator,
        "reference_model": opts.reference_model,
        "evaluator": opts.evaluator,
    }
    if opts.model is not None:
        candidate = Participant("candidate", opts.model_id, load_cube(opts.model, "candidate"))
    elif opts.model_id is not None and registry is not None:
        candidate = from_entry(registry, opts.model_id, "candidate", cache, opts)
    else:
        raise UsageError("give the candidate: --model DIR, or its registry id with --registry")
    found: dict[str, Participant] = {"candidate": candidate}
    for key, override in overrides.items():
        if override is not None:
            found[key] = Participant(key, None, load_cube(override, key))
        elif benchmark is not None and registry is not None:
            found[key] = from_entry(registry, benchmark[key], key, cache, opts)
        elif key != "reference_model":  # without one, the candidate runs alone
            raise UsageError(f"no benchmark given, so --{key.replace('_', '-')} is needed")
    return {k: found[k] for k in ROLE_OF if k in found}
