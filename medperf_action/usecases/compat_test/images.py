"""Each participant's image, identified by what it is, never by a name another can claim.

A participant's image comes from one *source*: a published archive (named by its
SHA-256), a reference pinned by digest, a build context (named by its hash), or, for a
local run, an image name as the engine has it. Two participants share an image only when
their sources are equal; two participants that name the same image but come from
different sources are refused, since one's code could then run as the other's. Each source
resolves to an image ID once, and every container runs by that ID.

A published archive is loaded with its names removed (`docker.images.load_archive`), so a
hostile archive cannot move a name that a benchmark cube or a base image stands on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.docker.images import (
    CONTEXT_HASH_LABEL,
    archive_layout,
    context_hash,
    ensure_image,
    inspect,
    load_archive,
)
from medperf_action.adapters.files.download import fetch
from medperf_action.errors import BenchmarkInvalid, InvalidInput
from medperf_action.settings import cache_dir
from medperf_action.text import Log, silent
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import Participant


@dataclass(frozen=True)
class Source:
    """Where an image comes from: `archive` (its SHA-256), `archive-at` (a container
    config's DockerArchive, by its location: a local cube's, trusted as the user's own),
    `build` (name and context hash), `reference` (name@sha256:...), or `name` (as the
    engine has it, locally)."""

    kind: str
    key: str


@dataclass(frozen=True)
class Ready:
    image_id: str
    digest: str | None


def source_of(p: Participant) -> Source:
    """What the participant runs. A registry entry's pin (its archive, or its image by
    digest) wins over what the published cube itself says: a DockerArchive's own URL is
    for a local cube only, or an entry could pin one image and run another."""
    if p.archive is not None:
        return Source("archive", p.archive["sha256"].lower().removeprefix("sha256:"))
    if p.digest is not None and "@sha256:" in p.digest:
        return Source("reference", p.digest)
    if p.cube.is_archive:
        return Source("archive-at", archive_location(p))
    context = p.cube.build_context if p.build else None
    if context is not None and context.is_dir():
        return Source("build", f"{p.image_ref}\0{context_hash(context, p.cube.build_file)}")
    if "@sha256:" in p.image_ref:
        return Source("reference", p.image_ref)
    return Source("name", p.image_ref)


def image_groups(parts: dict[str, Participant]) -> list[tuple[Source, list[str]]]:
    """The distinct images of the participants (checked: one name, one image), each with
    the participants that run it, in the workflow's order."""
    sources = {key: source_of(p) for key, p in parts.items()}
    _check_names(parts, sources)
    by_source: dict[Source, list[str]] = {}
    for key, source in sources.items():
        by_source.setdefault(source, []).append(key)
    return list(by_source.items())


def resolve_group(
    parts: dict[str, Participant], source: Source, keys: list[str], opts: Options
) -> None:
    """Give the participants of one image (in place) its image ID and digest."""
    ready = _resolve(parts[keys[0]], source, parts, opts)
    for key in keys:
        parts[key] = parts[key].with_image(ready.image_id, ready.digest)


def _check_names(parts: dict[str, Participant], sources: dict[str, Source]) -> None:
    """Participants that name the same image must be the same image."""
    by_name: dict[str, set[Source]] = {}
    for key, p in parts.items():
        by_name.setdefault(p.image_ref, set()).add(sources[key])
    for name, found in by_name.items():
        if len(found) > 1:
            labels = [p.label for key, p in parts.items() if p.image_ref == name]
            raise BenchmarkInvalid(
                f"{', '.join(labels)} all name the image {name!r} but are not the same image "
                "(another build, archive or digest): give each MLCube its own image name"
            )


def archive_location(p: Participant) -> str:
    """A DockerArchive's `image`: a URL as it is, a path relative to the config's folder."""
    image = p.cube.image
    return image if "://" in image else str(p.cube.root / image)


def _resolve(p: Participant, source: Source, parts: dict[str, Participant], opts: Options) -> Ready:
    if source.kind == "archive":
        return Ready(_load_archive(p, parts, opts), None)
    if source.kind == "archive-at":
        return Ready(_load_archive(p, parts, opts, {"url": source.key, "sha256": None}), None)
    context = p.cube.build_context if source.kind == "build" else None
    if context is not None and not opts.no_build:
        # The context's hash is in the source already: when the image carries it, one
        # look-up is all (ensure_image would hash the context a second time).
        found = inspect(p.image_ref)
        if found is not None and found.label(CONTEXT_HASH_LABEL) == source.key.split("\0")[1]:
            digest = p.digest or (found.repo_digests[0] if found.repo_digests else None)
            return Ready(found.id, digest)
    record = ensure_image(
        p.image_ref,
        context,
        p.cube.build_file if context else None,
        no_build=opts.no_build,
        log=lambda line: opts.log(f"[{p.label} build] {line}"),
        echo=_build_echo(p, opts),
    )
    digest = p.digest or (record.repo_digests[0] if record.repo_digests else None)
    return Ready(record.id, digest)


def _build_echo(p: Participant, opts: Options) -> Log:
    """The build's own output: shown with the containers' logs, and hidden with them
    (--quiet); a failed build still shows its last lines in the error."""
    echo = opts.echo
    if echo is None:
        return silent
    return lambda line: echo(f"[{p.label} build] {line}")


def _load_archive(
    p: Participant,
    parts: dict[str, Participant],
    opts: Options,
    archive: dict[str, Any] | None = None,
) -> str:
    """A `docker save` archive (the published one, else `archive`): fetched, hash-checked,
    its layout checked, loaded without its names; its image ID (its content's digest).

    It may name no image but the cube's own, and that name no other participant's (a
    DockerArchive has no name of its own: MedPerf runs the first name inside)."""
    archive = archive or p.archive
    assert archive is not None
    got = fetch(
        archive["url"],
        archive["sha256"],
        cache=opts.cache,
        name=f"{p.label} image",
        progress=opts.progress,
        log=opts.log,
        **opts.fetch_limits(archive.get("size")),
    )
    layout = archive_layout(Path(got.path))
    others = {q.image_ref for q in parts.values() if q.key != p.key}
    own = None if p.cube.is_archive else p.cube.image
    foreign = [t for t in layout.tags if (own is not None and t != own) or t in others]
    if foreign:
        allowed = f"only the cube's own image name {own!r}, and " if own else ""
        raise InvalidInput(
            f"{p.label}: the image archive would tag {', '.join(foreign)}; it may carry "
            f"{allowed}no name another cube uses"
        )
    return load_archive(got.path, layout, p.label, (opts.cache or cache_dir()) / "scratch")
