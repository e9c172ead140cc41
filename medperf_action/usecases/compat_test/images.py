"""Each participant's image, present and current: looked up cheaply, else built, pulled or
loaded from its published archive; identified from then on by its image ID."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from medperf_action.adapters.docker.images import (
    archive_tags,
    context_hash,
    ensure_image,
    load_archive,
)
from medperf_action.adapters.files.download import fetch
from medperf_action.errors import BenchmarkInvalid, InvalidInput
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import Participant


def prepare_images(parts: dict[str, Participant], opts: Options, pool: ThreadPoolExecutor) -> None:
    """Give the participants (in place) their image IDs and digests, each distinct image
    once. When one image fails, those that are ready still carry theirs (for the summary
    of the failed run)."""
    # One build per distinct image (the reference model may share the candidate's image),
    # but two different build contexts under one name would run one cube's code for both.
    by_image: dict[str, list[str]] = {}
    for key, p in parts.items():
        by_image.setdefault(p.image_ref, []).append(key)
    for name, keys in by_image.items():
        _check_shared_image(name, [parts[k] for k in keys])
    firsts = {name: pool.submit(_one, parts[keys[0]], opts) for name, keys in by_image.items()}
    failed: list[BaseException] = []
    for name, future in firsts.items():
        try:
            ready = future.result()
        except BaseException as exc:  # the others finish first, so their images count
            failed.append(exc)
            continue
        for key in by_image[name]:
            parts[key] = parts[key].with_image(ready.image_id or "", ready.digest)
    if failed:
        raise failed[0]


def _one(p: Participant, opts: Options) -> Participant:
    if p.archive is not None:
        return p.with_image(_load_archive(p, opts), None)
    context = p.cube.build_context if p.build and p.cube.build_context else None
    if context is not None and not context.is_dir():
        context = None
    build_file = p.cube.build_file if context else None
    record = ensure_image(
        p.image_ref,
        context,
        build_file,
        no_build=opts.no_build,
        log=lambda line: opts.log(f"[{p.label} build] {line}"),
    )
    digest = p.digest or (record.repo_digests[0] if record.repo_digests else None)
    return p.with_image(record.id, digest)


def _check_shared_image(name: str, group: list[Participant]) -> None:
    built = {
        p.label: context_hash(p.cube.build_context, p.cube.build_file)
        for p in group
        if p.build and p.cube.build_context is not None and p.cube.build_context.is_dir()
    }
    if len(set(built.values())) > 1 or (built and len(group) > len(built)):
        raise BenchmarkInvalid(
            f"{', '.join(p.label for p in group)} all name the image {name!r} but are not the "
            "same build: give each MLCube its own image name"
        )


def _load_archive(p: Participant, opts: Options) -> str:
    """A published `docker save` archive: fetched, hash-checked, loaded; its image ID.

    The archive may only name the cube's own image: loading it must not re-tag an image
    that another cube (or a base image) uses.
    """
    assert p.archive is not None
    got = fetch(
        p.archive["url"],
        p.archive["sha256"],
        cache=opts.cache,
        name=f"{p.label} image",
        progress=opts.progress,
    )
    foreign = [t for t in archive_tags(Path(got.path)) if t != p.cube.image]
    if foreign:
        raise InvalidInput(
            f"{p.label}: the image archive would tag {', '.join(foreign)}; it may only carry "
            f"the cube's own image name {p.cube.image!r}"
        )
    return load_archive(got.path, p.label)
