"""The host's side of a sandbox's mounts.

When the caller is root, the container runs as the sandbox uid instead: its writable
mounts are handed to that uid for the run and back afterwards (recursively, symlinks never
followed), and its read-only mounts must be readable by "others", checked before the run.
A rootless engine run by another user makes the mounts as that user: every directory on
the way to them must be searchable by it, checked before the run too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Protocol

from medperf_action.errors import InvalidInput

_READABLE_CHECK_LIMIT = 100_000


class HostMount(Protocol):
    @property
    def host(self) -> Path: ...

    @property
    def container(self) -> str: ...


@contextlib.contextmanager
def log_file(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        yield handle


def _walk_nofollow(root: Path) -> Iterator[Path]:
    """`root` and everything under it, never following symlinks."""
    yield root
    if root.is_symlink() or not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def chown_tree(root: Path, uid: int, gid: int) -> list[str]:
    """`lchown` `root` recursively; returns the problems met (never raises)."""
    problems: list[str] = []
    for path in _walk_nofollow(root):
        try:
            os.chown(path, uid, gid, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    return problems


def check_readable_by_others(mounts: Iterable[HostMount], sandbox_uid: int) -> None:
    """Read-only mounts must be readable by the sandbox uid, i.e. by "others"."""
    for m in mounts:
        checked = 0
        for path in _walk_nofollow(m.host):
            checked += 1
            if checked > _READABLE_CHECK_LIMIT:
                break
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else 0)
            if st.st_mode & need != need and st.st_uid != sandbox_uid:
                raise InvalidInput(
                    f"input {path} (mounted at {m.container}) is not readable by the sandbox "
                    f"user {sandbox_uid} (mode {stat.S_IMODE(st.st_mode):04o}); containers never "
                    f"run as root: make it readable (chmod -R o+rX {m.host}) or run as a "
                    "non-root user"
                )


def check_reachable(mounts: Iterable[HostMount], engine_uid: int) -> None:
    """A rootless engine mounts as its own (unprivileged) user: it must be able to reach
    every mount, i.e. search every directory on the way."""
    for m in mounts:
        for parent in reversed(m.host.parents):
            try:
                st = parent.stat()
            except OSError:
                continue
            searchable = stat.S_IXUSR if st.st_uid == engine_uid else stat.S_IXOTH
            if not st.st_mode & searchable:
                raise InvalidInput(
                    f"{m.host} (mounted at {m.container}) cannot be reached by the rootless "
                    f"container engine, which runs as uid {engine_uid}: {parent} is not "
                    f"searchable by it (mode {stat.S_IMODE(st.st_mode):04o}); chmod o+x "
                    f"{parent}, or keep the cache and outputs in a folder it can reach "
                    "(MEDPERF_ACTION_CACHE, --output)"
                )
