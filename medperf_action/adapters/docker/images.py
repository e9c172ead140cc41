"""Images: whether one is present and current, and building, pulling, loading, saving and
pushing them.

An image built here carries the hash of its build context (`CONTEXT_HASH_LABEL`), so
"is this image current?" is one look-up and one hash, asked in one place
(`current_image`), and a rebuilt context is never mistaken for the old image.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import stat
import tarfile
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.docker.client import engine, engine_get, sdk_errors, short
from medperf_action.errors import DockerError, ImageBuildFailed, InvalidInput
from medperf_action.text import Log, silent

CONTEXT_HASH_LABEL = "org.medperf-action.context-hash"
"""Images built here carry the hash of their build context under this label."""
LOG_TAIL_LINES = 30
SAVE_CHUNK = 1 << 20
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImageRecord:
    """What the engine knows of one image."""

    id: str
    tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_inspect(cls, info: dict[str, Any]) -> ImageRecord:
        labels = (info.get("Config") or {}).get("Labels") or {}
        return cls(
            id=str(info["Id"]),
            tags=tuple(info.get("RepoTags") or ()),
            repo_digests=tuple(info.get("RepoDigests") or ()),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        )

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)

    def digest_for(self, ref: str | None) -> str | None:
        """The repository digest (`name@sha256:…`) of `ref`'s repository, else any."""
        if not self.repo_digests:
            return None
        if ref:
            repo = repository(ref)
            for digest in sorted(self.repo_digests):
                if digest.split("@", 1)[0] == repo:
                    return digest
        return sorted(self.repo_digests)[0]


def repository(ref: str) -> str:
    """`registry/name` of a reference, without tag or digest."""
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name[: name.rfind(":")]
    return name


# --------------------------------------------------------------------------- look-ups


def inspect(ref: str) -> ImageRecord | None:
    """The engine's record of `ref` (a name or an image ID), or None when it has none."""
    try:
        status, info = engine_get(f"/images/{urllib.parse.quote(ref, safe='')}/json")
    except (OSError, ValueError):
        return _inspect_with_sdk(ref)
    if status == 404:
        return None
    if status != 200 or not isinstance(info, dict):
        raise DockerError(f"the Docker Engine cannot inspect {ref} (HTTP {status})")
    return ImageRecord.from_inspect(info)


def _inspect_with_sdk(ref: str) -> ImageRecord | None:
    import docker.errors

    client = engine()
    with sdk_errors(f"inspect image {ref}"):
        try:
            return ImageRecord.from_inspect(client.images.get(ref).attrs)
        except docker.errors.ImageNotFound:
            return None


def current_image(
    ref: str, build_context: Path | None, build_file: Path | None
) -> ImageRecord | None:
    """The record of `ref` if it is present and current, else None.

    Current means: built from a context whose hash it carries (when there is a build
    context), or simply present (when there is none).
    """
    record = inspect(ref) if ref else None
    if record is None or build_context is None:
        return record
    if record.label(CONTEXT_HASH_LABEL) != context_hash(build_context, build_file):
        return None
    return record


# --------------------------------------------------------------------------- context hash


def _dockerignore_patterns(build_context: Path) -> list[str] | None:
    path = build_context / ".dockerignore"
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _dockerfile_arg(build_context: Path, build_file: Path | None) -> str | None:
    """The ``dockerfile`` argument for ``APIClient.build``: relative when inside the context."""
    if build_file is None:
        return None
    ctx = build_context.resolve()
    bf = build_file if build_file.is_absolute() else ctx / build_file
    bf = bf.resolve()
    try:
        return bf.relative_to(ctx).as_posix()
    except ValueError:
        return str(bf)


def _context_files(build_context: Path, dockerfile: str | None) -> list[str]:
    """Relative paths sent to the engine: everything, minus what ``.dockerignore`` excludes.

    Uses the Docker SDK's own matcher, so the hash covers exactly what a build sends.
    """
    patterns = _dockerignore_patterns(build_context)
    if patterns is None:
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(build_context):
            rel = os.path.relpath(dirpath, build_context)
            for name in dirnames + filenames:
                out.append(name if rel == "." else f"{rel}/{name}")
        return sorted(out)
    from docker.utils.build import exclude_paths

    if dockerfile is None:
        df = "Dockerfile"
    elif os.path.isabs(dockerfile):  # sent under a made-up name; the context's own is not
        df = ".dockerfile.outside-context"
    else:
        df = dockerfile
    return sorted(p.replace(os.sep, "/") for p in exclude_paths(str(build_context), patterns, df))


def _hash_file(h: Any, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)


def context_hash(build_context: Path, build_file: Path | None = None) -> str:
    """SHA-256 of a build context: sorted relative paths, file types and modes, contents.

    Honours ``.dockerignore`` exactly as the Docker SDK does when it sends the context (a
    context without one is hashed whole). Symlinks are hashed as their target string, never
    followed. The Dockerfile is always included, also when it lies outside the context.
    """
    ctx = Path(build_context)
    if not ctx.is_dir():
        raise InvalidInput(f"build context {ctx} is not a directory")
    dockerfile = _dockerfile_arg(ctx, build_file)
    h = hashlib.sha256(b"medperf-action context v1\0")
    for rel in _context_files(ctx, dockerfile):
        full = ctx / rel
        st = full.lstat()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            h.update(f"L\0{rel}\0{os.readlink(full)}\0".encode())
        elif stat.S_ISDIR(st.st_mode):
            h.update(f"D\0{rel}\0{mode:o}\0".encode())
        elif stat.S_ISREG(st.st_mode):
            h.update(f"F\0{rel}\0{mode:o}\0{st.st_size}\0".encode())
            _hash_file(h, full)
        else:  # sockets, fifos, devices: not sent as content
            h.update(f"O\0{rel}\0{stat.S_IFMT(st.st_mode):o}\0".encode())
    df_path = Path(build_file) if build_file is not None else ctx / "Dockerfile"
    if not df_path.is_absolute():
        df_path = ctx / df_path
    h.update(f"\0DOCKERFILE\0{dockerfile or 'Dockerfile'}\0".encode())
    if df_path.is_file():
        _hash_file(h, df_path)
    return h.hexdigest()


# --------------------------------------------------------------------------- build and pull


def ensure_image(
    ref: str,
    build_context: Path | None,
    build_file: Path | None,
    *,
    no_build: bool = False,
    pull: bool = True,
    log: Log = silent,
    network_mode: str | None = None,
    echo: Log | None = None,
) -> ImageRecord:
    """Make `ref` available and current locally; its record.

    With a build context: build it unless the image tagged `ref` carries the context's
    hash already. Without one: the local image, else pull it (when `pull`). `no_build`:
    use what is there, fail when absent. `network_mode` goes to the build (None: the
    engine's default). The build's own output goes to `echo` (default: `log`).
    """
    if no_build:
        record = inspect(ref)
        if record is None:
            raise DockerError(f"image {ref} is not available locally and building is off")
        return record
    if build_context is None:
        record = inspect(ref)
        if record is not None:
            return record
        if not pull:
            raise DockerError(f"image {ref} is not available locally (and pulling is off)")
        return pull_image(ref, log)
    _check_context(ref, build_context, build_file)
    digest = context_hash(build_context, build_file)
    record = inspect(ref)
    if record is not None and record.label(CONTEXT_HASH_LABEL) == digest:
        log(f"image {ref} is up to date (context {digest[:12]})")
        return record
    return build_image(ref, build_context, build_file, digest, log, network_mode, echo)


def _check_context(ref: str, ctx: Path, build_file: Path | None) -> None:
    if not ctx.is_dir():
        raise InvalidInput(f"build context {ctx} of image {ref} is not a directory")
    if build_file is not None:
        bf = build_file if build_file.is_absolute() else ctx / build_file
        if not bf.is_file():
            raise InvalidInput(f"Dockerfile {bf} of image {ref} does not exist")
    elif not (ctx / "Dockerfile").is_file():
        raise InvalidInput(f"build context {ctx} of image {ref} has no Dockerfile")


def build_image(
    ref: str,
    ctx: Path,
    build_file: Path | None,
    digest: str,
    log: Log = silent,
    network_mode: str | None = None,
    echo: Log | None = None,
) -> ImageRecord:
    """Build `ctx` as `ref`, labelled with its context hash; ImageBuildFailed if it fails.
    `log` gets the tool's lines, `echo` (default: `log`) the build's own output."""
    client = engine()
    echo = log if echo is None else echo
    log(f"building image {ref} from {ctx} (context {digest[:12]})")
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    error: str | None = None
    try:
        stream = client.api.build(
            path=str(ctx),
            dockerfile=_dockerfile_arg(ctx, build_file),
            tag=ref,
            labels={CONTEXT_HASH_LABEL: digest},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            network_mode=network_mode,
        )
        for chunk in stream:
            for line in str(chunk.get("stream", "")).splitlines():
                if line.strip():
                    tail.append(line)
                    echo(line)
            if "error" in chunk:
                error = str(chunk.get("error") or "").strip()
                tail.append(error)
                echo(error)
    except OSError as exc:  # the context cannot be read to be sent
        raise InvalidInput(f"building image {ref}: cannot read {ctx}: {short(exc)}") from exc
    except Exception as exc:  # DockerException, the engine's connection lost mid-build
        raise DockerError(f"building image {ref} from {ctx} failed: {short(exc)}") from exc
    if error is not None:
        raise ImageBuildFailed(
            f"building image {ref} from {ctx} failed: {error}\n"
            + "\n".join(f"  | {line}" for line in tail)
        )
    built = inspect(ref)
    if built is None:
        raise DockerError(f"building image {ref} finished but no image is tagged so")
    return built


def pull_image(ref: str, log: Log = silent) -> ImageRecord:
    log(f"pulling image {ref}")
    client = engine()
    try:
        pulled = client.images.pull(ref)
    except Exception as exc:  # DockerException, connection errors
        raise DockerError(
            f"image {ref} is not available locally and could not be pulled: {short(exc)}"
        ) from exc
    return ImageRecord.from_inspect(pulled.attrs)


# --------------------------------------------------------------------------- archives


#: Members of a `docker save` archive that name images: rewritten (or dropped) before a
#: load, so that loading never moves a name.
_MANIFEST, _INDEX, _REPOSITORIES = "manifest.json", "index.json", "repositories"
_NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_MAX_JSON = 1 << 20


@dataclass(frozen=True)
class ArchiveLayout:
    """What a `docker save` archive holds: one image, identified by its config's digest
    (which is the image ID it loads as), and the names it would set if loaded as it is."""

    image_id: str
    tags: tuple[str, ...]


def _member_name(member: tarfile.TarInfo) -> str:
    return member.name.removeprefix("./")


def _read_json(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Any:
    handle = tar.extractfile(member)
    if handle is None or member.size > _MAX_JSON:
        raise InvalidInput(f"the image archive's {member.name} is not a small JSON file")
    return json.loads(handle.read(_MAX_JSON))


def archive_layout(path: Path) -> ArchiveLayout:
    """Read a `docker save` archive's layout, refusing one that is ambiguous: more than one
    manifest.json (or index.json), or a manifest of more than one image, so that what is
    checked here is what a load would load."""
    found: dict[str, Any] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = _member_name(member)
                if name not in (_MANIFEST, _INDEX):
                    continue
                if name in found or not member.isfile():
                    raise InvalidInput(
                        f"the image archive holds {name} twice (or not as a file): which one "
                        "a load reads is not certain, so it is refused"
                    )
                found[name] = _read_json(tar, member)
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise InvalidInput(f"the image archive cannot be read: {exc}") from None
    manifest = found.get(_MANIFEST)
    if not isinstance(manifest, list) or not manifest:
        raise InvalidInput("the image archive holds no manifest.json (not a `docker save`)")
    if len(manifest) != 1 or not isinstance(manifest[0], dict):
        raise InvalidInput(
            f"the image archive's manifest.json lists {len(manifest)} images; an MLCube's "
            "archive holds exactly one"
        )
    config = str(manifest[0].get("Config") or "")
    digest = config.removeprefix("blobs/sha256/").removesuffix(".json")
    if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise InvalidInput(f"the image archive's manifest.json names no image config ({config!r})")
    tags = list(manifest[0].get("RepoTags") or [])
    index = found.get(_INDEX)
    entries = index.get("manifests") or [] if isinstance(index, dict) else []
    for entry in entries:
        annotations = entry.get("annotations") or {} if isinstance(entry, dict) else {}
        tags += [str(annotations[k]) for k in _NAME_ANNOTATIONS if k in annotations]
    return ArchiveLayout(f"sha256:{digest}", tuple(dict.fromkeys(str(t) for t in tags)))


def _without_names(source: Path, dest: Path) -> None:
    """Copy a `docker save` archive as a plain tar with every image name removed."""
    with tarfile.open(source, "r:*") as tar, tarfile.open(dest, "w", format=tar.format) as out:
        for member in tar:
            name = _member_name(member)
            if name == _REPOSITORIES:
                continue
            if name in (_MANIFEST, _INDEX):
                doc = _read_json(tar, member)
                if name == _MANIFEST:
                    for entry in doc:
                        entry["RepoTags"] = None
                else:
                    for entry in doc.get("manifests") or []:
                        for key in _NAME_ANNOTATIONS:
                            (entry.get("annotations") or {}).pop(key, None)
                data = json.dumps(doc).encode()
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
            else:
                out.addfile(member, tar.extractfile(member) if member.isfile() else None)


def load_archive(path: Path, layout: ArchiveLayout, label: str, scratch: Path) -> str:
    """Load a `docker save` archive without any of its names; the image ID it holds.

    `layout` is `archive_layout(path)`, as the caller checked it. The archive is copied
    into `scratch` with its tags removed first, so loading it can never move a name
    another cube (or a base image) stands on; the loaded image is then found by the ID
    its layout promised, which is its content's digest.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    stripped = scratch / f".{path.name}.{uuid.uuid4().hex[:8]}.tar"
    try:
        try:
            _without_names(path, stripped)
        except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
            raise InvalidInput(f"{label}: the image archive cannot be read: {exc}") from None
        client = engine()
        try:
            with open(stripped, "rb") as handle:
                client.images.load(handle)
        except Exception as exc:  # docker.errors.* and connection errors
            raise InvalidInput(f"{label}: the image archive does not load: {short(exc)}") from None
    finally:
        stripped.unlink(missing_ok=True)
    if inspect(layout.image_id) is None:
        raise InvalidInput(f"{label}: the image archive did not load as {layout.image_id}")
    return layout.image_id


def save_image(image_id: str, ref: str) -> Iterator[bytes]:
    """`docker save` of an image, streamed, tagged `ref` inside when it carries that tag."""
    client = engine()
    with sdk_errors(f"docker save of {ref}"):
        image = client.images.get(image_id)
        tags = list(image.tags or [])
    named: str | bool = ref if ref in tags else bool(tags)
    try:
        yield from image.save(chunk_size=SAVE_CHUNK, named=named)
    except Exception as exc:  # DockerException, connection errors while streaming
        raise DockerError(f"docker save of {ref} failed: {short(exc)}") from exc


def push_image(image_id: str, repository_name: str, tag: str, log: Log = silent) -> str:
    """Tag `image_id` as REPOSITORY:TAG and push it; the digest the registry reports."""
    client = engine()
    digest = None
    ref = f"{repository_name}:{tag}"
    try:
        client.images.get(image_id).tag(repository_name, tag)
        for event in client.api.push(repository_name, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise DockerError(f"push {ref}: {event['error']}")
            if event.get("status"):
                log(f"[push] {event['status']} {event.get('progress', '')}".rstrip())
            digest = (event.get("aux") or {}).get("Digest", digest)
    except DockerError:
        raise
    except Exception as exc:  # docker.errors.* and connection errors
        raise DockerError(f"push {ref}: {short(exc)}") from None
    if not digest:
        raise DockerError(f"push {ref}: the registry reported no digest")
    return str(digest)
