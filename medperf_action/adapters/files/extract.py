"""Safe extraction of tar archives: every member checked before anything is written.

An archive comes from a model owner or a benchmark, so it is untrusted: no absolute
paths, no `..`, nothing below a symlink, links that stay inside, no devices; bounded in
members and bytes; extracted into a temporary folder that takes its place at the end, so a
refused or failed extraction leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from medperf_action.adapters.files.download import CHUNK_SIZE, Progress, fetch
from medperf_action.errors import ArchiveUnsafe, DiskError, InvalidInput
from medperf_action.settings import cache_dir
from medperf_action.text import human_size

DEFAULT_MAX_TOTAL_BYTES = 20 << 30
DEFAULT_MAX_MEMBERS = 1_000_000
_MAX_SYMLINK_DEPTH = 40

try:
    import lzma

    _DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (zlib.error, lzma.LZMAError)
except ImportError:  # pragma: no cover - Python built without lzma
    _DECOMPRESSION_ERRORS = (zlib.error,)
# What tarfile and the decompressors raise on a corrupt, truncated or non-tar file.
_UNREADABLE: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    EOFError,
    ValueError,
    *_DECOMPRESSION_ERRORS,
)
_CORRUPT_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    EOFError,
    OSError,
    ValueError,
    *_DECOMPRESSION_ERRORS,
)


class _DestinationExists(DiskError):
    pass


@dataclass
class _Plan:
    """What a scanned archive will create, checked before anything is written."""

    members: list[tuple[tarfile.TarInfo, tuple[str, ...]]]
    hardlink_targets: dict[int, tuple[str, ...]]


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> None:
    """Extract a tar archive (plain, gz, bz2 or xz) into ``dest``, refusing anything unsafe.

    Every member is checked before anything is written: no absolute paths or ``..``
    components, no member below a symlink, symlinks and hardlinks must resolve inside the
    archive, no devices or FIFOs, at most ``max_members`` members and ``max_total_bytes``
    of file data. The archive is extracted into a temporary directory beside ``dest`` that
    is renamed to ``dest`` at the end, so a rejected or failed extraction leaves nothing.
    ``dest`` must not exist or be an empty directory. Owners are not restored; setuid,
    setgid, sticky and group/other write bits are dropped; files are owner-readable and
    writable, directories owner-accessible.
    """
    archive = Path(archive)
    dest = Path(dest)
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise _DestinationExists(f"cannot extract {archive.name}: {dest} exists and is not empty")
    with _open_tar(archive) as tar:
        plan = _scan(tar, archive.name, max_total_bytes, max_members)
        parent = dest.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.partial-"))
        try:
            # mkdtemp makes it 0700; the extracted folder gets an ordinary folder's mode, so
            # that a sandboxed container user can read what it holds.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)
            _write(tar, plan, tmp, archive.name)
            try:
                os.rename(tmp, dest)
            except OSError as exc:
                if dest.exists():
                    raise _DestinationExists(
                        f"cannot extract {archive.name}: {dest} appeared meanwhile"
                    ) from exc
                raise
        except BaseException:
            _rmtree(tmp)
            raise


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except FileNotFoundError as exc:
        raise InvalidInput(f"cannot extract {archive}: no such file") from exc
    except _CORRUPT_ERRORS as exc:
        # tarfile's own text lists every compression it tried; the short form is clearer.
        detail = "" if isinstance(exc, tarfile.ReadError) else f": {exc}"
        raise ArchiveUnsafe(
            f"{archive.name} is not a tar archive (plain, gzip, bzip2 or xz) or is corrupt{detail}"
        ) from exc


Members = list[tuple[tarfile.TarInfo, tuple[str, ...]]]
Kinds = dict[tuple[str, ...], tarfile.TarInfo]


def _scan(tar: tarfile.TarFile, label: str, max_total_bytes: int, max_members: int) -> _Plan:
    members, kinds = _list_members(tar, label, max_total_bytes, max_members)
    hardlink_targets: dict[int, tuple[str, ...]] = {}
    seen: set[tuple[str, ...]] = set()
    for index, (info, parts) in enumerate(members):
        for depth in range(1, len(parts)):
            ancestor = kinds.get(parts[:depth])
            if ancestor is not None and not ancestor.isdir():
                raise ArchiveUnsafe(
                    f"{label}: {info.name!r} lies below {ancestor.name!r}, which is a "
                    f"{'symlink' if _is_link(ancestor) else 'file'}, not a directory"
                )
        if info.issym():
            _check_symlink(info, parts, kinds, label)
        elif info.islnk():
            hardlink_targets[index] = _hardlink_target(info, kinds, seen, label)
        seen.add(parts)
    return _Plan(members, hardlink_targets)


def _list_members(
    tar: tarfile.TarFile, label: str, max_total_bytes: int, max_members: int
) -> tuple[Members, Kinds]:
    """Every member with its path parts, refusing what is unsafe on its own."""
    members: Members = []
    kinds: Kinds = {}
    total = 0
    try:
        for info in tar:
            if len(members) >= max_members:
                raise ArchiveUnsafe(f"{label} has more than {max_members} members")
            parts = _member_parts(info, label)
            if info.isreg():
                total += info.size
                if total > max_total_bytes:
                    raise ArchiveUnsafe(
                        f"{label} would extract more than {human_size(max_total_bytes)} "
                        f"({max_total_bytes} bytes; limit reached at {info.name!r})"
                    )
            elif not (info.isdir() or info.issym() or info.islnk()):
                raise ArchiveUnsafe(
                    f"{label}: {info.name!r} is a {_kind(info)}; only files, directories "
                    "and links are allowed"
                )
            previous = kinds.get(parts)
            if previous is not None and (
                _is_link(previous) or _is_link(info) or previous.isdir() != info.isdir()
            ):
                raise ArchiveUnsafe(f"{label}: {info.name!r} appears twice with different types")
            kinds[parts] = info
            members.append((info, parts))
    except _CORRUPT_ERRORS as exc:
        raise ArchiveUnsafe(f"{label} is corrupt or truncated: {exc}") from exc
    return members, kinds


def _check_symlink(info: tarfile.TarInfo, parts: tuple[str, ...], kinds: Kinds, label: str) -> None:
    if info.linkname.startswith("/") or not info.linkname:
        raise ArchiveUnsafe(
            f"{label}: symlink {info.name!r} has an absolute or empty target {info.linkname!r}"
        )
    _resolve(parts[:-1] + tuple(info.linkname.split("/")), kinds, label, info)


def _hardlink_target(
    info: tarfile.TarInfo, kinds: Kinds, seen: set[tuple[str, ...]], label: str
) -> tuple[str, ...]:
    if info.linkname.startswith("/"):
        raise ArchiveUnsafe(
            f"{label}: hardlink {info.name!r} has an absolute target {info.linkname!r}"
        )
    target = _resolve(tuple(info.linkname.split("/")), kinds, label, info)
    target_info = kinds.get(target)
    if target_info is None or not target_info.isreg() or target not in seen:
        raise ArchiveUnsafe(
            f"{label}: hardlink {info.name!r} must point to a regular file earlier "
            f"in the archive, not {info.linkname!r}"
        )
    return target


def _member_parts(info: tarfile.TarInfo, label: str) -> tuple[str, ...]:
    name = info.name
    if name.startswith("/") or "\0" in name:
        raise ArchiveUnsafe(f"{label}: member {name!r} has an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise ArchiveUnsafe(f"{label}: member {name!r} contains a '..' component")
    if not parts and not info.isdir():
        raise ArchiveUnsafe(f"{label}: member {name!r} has an empty path")
    return parts


def _resolve(
    parts: tuple[str, ...],
    kinds: Mapping[tuple[str, ...], tarfile.TarInfo],
    label: str,
    link: tarfile.TarInfo,
    depth: int = 0,
) -> tuple[str, ...]:
    """Resolve a path as the OS would, following the archive's own symlinks.

    Raises ArchiveUnsafe if it would leave the archive root at any step.
    """
    if depth > _MAX_SYMLINK_DEPTH:
        raise ArchiveUnsafe(f"{label}: link {link.name!r} is part of a symlink loop")
    current: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                raise ArchiveUnsafe(
                    f"{label}: link {link.name!r} -> {link.linkname!r} points outside the archive"
                )
            current.pop()
            continue
        current.append(part)
        entry = kinds.get(tuple(current))
        if entry is not None and entry.issym():
            if entry.linkname.startswith("/"):
                raise ArchiveUnsafe(
                    f"{label}: link {link.name!r} resolves through absolute symlink {entry.name!r}"
                )
            target = tuple(current[:-1]) + tuple(entry.linkname.split("/"))
            current = list(_resolve(target, kinds, label, link, depth + 1))
    return tuple(current)


def _is_link(info: tarfile.TarInfo) -> bool:
    return info.issym() or info.islnk()


def _kind(info: tarfile.TarInfo) -> str:
    if info.ischr():
        return "character device"
    if info.isblk():
        return "block device"
    if info.isfifo():
        return "FIFO"
    return f"member of unsupported type {info.type!r}"


def _write(tar: tarfile.TarFile, plan: _Plan, root: Path, label: str) -> None:
    directories: list[tuple[Path, tarfile.TarInfo]] = []
    try:
        for index, (info, parts) in enumerate(plan.members):
            target = root.joinpath(*parts)
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
                directories.append((target, info))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_file():  # a later copy of the same file replaces the earlier one
                target.unlink()
            if info.issym():
                os.symlink(info.linkname, target)
            elif info.islnk():
                os.link(root.joinpath(*plan.hardlink_targets[index]), target)
            else:
                source = tar.extractfile(info)
                if source is None:  # pragma: no cover - isreg() members always have data
                    raise ArchiveUnsafe(f"{label}: no data for {info.name!r}")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with source, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK_SIZE)
                os.chmod(target, (info.mode & 0o755) | 0o600)
                _set_mtime(target, info)
        for directory, info in reversed(directories):
            os.chmod(directory, (info.mode & 0o755) | 0o700)
            _set_mtime(directory, info)
    except _UNREADABLE as exc:
        raise ArchiveUnsafe(f"{label} is corrupt or truncated: {exc}") from exc
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.EILSEQ):  # the archive's names
            raise ArchiveUnsafe(f"{label}: cannot be extracted here: {exc}") from exc
        raise DiskError(f"cannot extract {label}: {exc}") from exc


def _set_mtime(path: Path, info: tarfile.TarInfo) -> None:
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(path, (info.mtime, info.mtime))


def _rmtree(path: Path) -> None:
    # Extraction leaves every directory owner-writable, so a plain rmtree always works.
    shutil.rmtree(path, ignore_errors=True)


def fetch_and_extract(
    source: str,
    sha256: str | None,
    *,
    cache: Path | None = None,
    name: str = "",
    progress: Progress | None = None,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> Path:
    """Fetch a tarball (see :func:`fetch`) and return ``<cache>/extracted/<sha256>/``.

    The archive is extracted once; a later call with the same digest reuses the directory.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    fetched = fetch(source, sha256, cache=cache, name=name, progress=progress)
    target = cache / "extracted" / fetched.sha256
    if target.is_dir():
        return target
    try:
        safe_extract(fetched.path, target, max_total_bytes=max_total_bytes)
    except _DestinationExists:
        if not target.is_dir():
            raise
    return target
