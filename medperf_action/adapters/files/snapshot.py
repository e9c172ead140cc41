"""A repository's files at one commit, cached on disk and held to the commit's git tree.

A git host serves a commit's files as one archive (GitHub: `GET .../tarball/{ref}`, a
gzipped `git archive` with one top folder). `open_snapshot` keeps it in the cache, under
the commit's SHA::

    <cache>/snapshots/<commit>/tree.json   every file: path -> [git mode, blob SHA]
    <cache>/snapshots/<commit>/files/...   the files, as the archive holds them
    <cache>/snapshots/.partial-*           a snapshot being made (removed on any failure)

Making one: download the archive (`download.fetch`, bounded in bytes), extract it
(`extract.safe_extract`: no path escapes, bounded in members and bytes), and hash every
file as git does, then the whole tree from those hashes: the result must be the commit's
tree SHA as the host gave it, so the snapshot is that commit exactly (a `.gitattributes`
rule that changes the archive, or a submodule, makes it differ: refused). Only then does
the folder take its place, in one rename: a half-made snapshot is never used.

Using one trusts nothing on disk: tree.json must hash to the commit's tree SHA (as the
host gives it now), and every file read must hash to its blob SHA. A snapshot missing,
partial or altered is thrown away and made again, at most once per `Snapshot`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.atomic import replace_directory, write_json
from medperf_action.adapters.files.download import CHUNK_SIZE, fetch
from medperf_action.adapters.files.extract import safe_extract
from medperf_action.errors import DiskError, InvalidInput, SnapshotMismatch
from medperf_action.settings import cache_dir

SNAPSHOTS = "snapshots"
MANIFEST = "tree.json"
FILES = "files"
#: Snapshots kept: the most recently used; older ones are removed when one is made.
KEEP = 8
#: A `.partial-*` folder older than this was left by a process that died.
STALE_PARTIAL_SECONDS = 3600
_SHA1 = re.compile(r"[0-9a-f]{40}")
_MODES = frozenset({"100644", "100755", "120000"})  # file, executable, symlink
Tree = dict[str, tuple[str, str]]  # path -> (mode, blob SHA)


@dataclass(frozen=True)
class Limits:
    """The most a snapshot may take: the archive's bytes, its files' bytes, its members."""

    download_bytes: int = 256 << 20
    extract_bytes: int = 1 << 30
    members: int = 200_000


# ---------------------------------------------------------------------------------------
# Git's object IDs


def git_blob_sha(data: bytes) -> str:
    """The SHA git gives a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _blob_sha_of_file(path: Path, size: int) -> str:
    digest = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def git_tree_sha(files: Mapping[str, tuple[str, str]]) -> str:
    """The SHA git gives the tree that holds `files` (path -> (mode, blob SHA))."""
    folders: dict[str, dict[str, tuple[str, str]]] = {}
    entries: list[tuple[bytes, bytes]] = []  # (git's sort key, the raw entry)
    for path, (mode, sha) in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            folders.setdefault(head, {})[rest] = (mode, sha)
        else:
            name = os.fsencode(head)  # a name's bytes as the file system has them
            entries.append((name, mode.encode() + b" " + name + b"\0" + bytes.fromhex(sha)))
    for head, inside in folders.items():
        name = os.fsencode(head)
        raw = b"40000 " + name + b"\0" + bytes.fromhex(git_tree_sha(inside))
        entries.append((name + b"/", raw))
    body = b"".join(raw for _, raw in sorted(entries))
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def tree_of_folder(root: Path) -> Tree:
    """Every file and symlink below `root` with its git mode and blob SHA (folders are not
    git objects of their own; an empty one counts for nothing)."""
    found: Tree = {}
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        for name in [*names, *(d for d in dirs if (base / d).is_symlink())]:
            path = base / name
            info = os.lstat(path)
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("120000", git_blob_sha(os.fsencode(os.readlink(path))))
            elif stat.S_ISREG(info.st_mode):
                mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
                found[rel] = (mode, _blob_sha_of_file(path, info.st_size))
    return found


# ---------------------------------------------------------------------------------------
# The snapshot


@dataclass
class Snapshot:
    """The files of `commit`, read from the cache and checked against its tree.

    `link` gives a fresh URL of the commit's archive (asked for only when the snapshot
    has to be made); `fetched` says whether this one was downloaded."""

    root: Path
    commit: str
    tree: str
    link: Callable[[], str]
    label: str
    limits: Limits = field(default_factory=Limits)
    fetched: bool = False
    _files: Tree = field(default_factory=dict, repr=False)
    _dirs: dict[str, list[str]] | None = field(default=None, repr=False)

    def read_bytes(self, path: str) -> bytes | None:
        """A file's bytes, or None when the commit has no file (nor symlink) there."""
        entry = self._files.get(path.strip("/"))
        if entry is None or entry[0] == "120000":
            return None
        data = self._checked(path.strip("/"), entry[1])
        if data is None:
            self._make_again(f"{path} is missing or altered")
            data = self._checked(path.strip("/"), entry[1])
        if data is None:
            raise DiskError(f"{self.label}: {self.root / FILES / path} cannot be read back")
        return data

    def read(self, path: str) -> str | None:
        """A file's text (UTF-8), or None when there is none."""
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{self.label}: {path} is not UTF-8 text") from None

    def list_dir(self, path: str) -> list[str]:
        """The names in the folder `path` ("" for the top), sorted; [] when there is none."""
        if self._dirs is None:
            dirs: dict[str, set[str]] = {}
            for file in self._files:
                parts = file.split("/")
                for depth in range(len(parts)):
                    dirs.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
            self._dirs = {k: sorted(v) for k, v in dirs.items()}
        return list(self._dirs.get(path.strip("/"), []))

    # -- on disk -------------------------------------------------------------------------

    def _checked(self, path: str, sha: str) -> bytes | None:
        """The file's bytes when they are the blob `sha`, else None (missing, altered)."""
        try:
            fd = os.open(self.root / FILES / path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        return data if git_blob_sha(data) == sha else None

    def load(self) -> bool:
        """Take tree.json when it describes exactly the commit's tree; False otherwise."""
        try:
            with open(self.root / MANIFEST, encoding="utf-8") as handle:
                doc = json.load(handle)
        except (OSError, ValueError):
            return False
        files = _parse_files(doc.get("files") if isinstance(doc, dict) else None)
        if files is None or doc.get("commit") != self.commit:
            return False
        if git_tree_sha(files) != self.tree:
            return False
        self._files, self._dirs = files, None
        with contextlib.suppress(OSError):
            os.utime(self.root / MANIFEST)  # recently used: kept by `_prune`
        return True

    def _make_again(self, why: str) -> None:
        if self.fetched:  # made by this very object: the disk does not keep what it got
            raise DiskError(f"{self.label}: the snapshot in {self.root} went bad ({why})")
        self.make()

    def make(self) -> None:
        """Download, extract and check the archive, then put it in place in one rename."""
        parent = self.root.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(dir=parent, prefix=".partial-"))
        except OSError as exc:
            raise DiskError(f"cannot create {parent}: {exc}") from exc
        try:
            entry = self._build(work)
            replace_directory(entry, self.root)
        except OSError as exc:
            if self.load():  # another process put the same commit's snapshot there first
                return
            raise DiskError(f"{self.label}: cannot write the snapshot: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.fetched = True
        if not self.load():
            raise DiskError(f"{self.label}: the snapshot just made in {self.root} cannot be read")
        _prune(parent, keep=self.root)

    def _build(self, work: Path) -> Path:
        got = fetch(
            self.link(),
            None,
            cache=work / "download",
            name=f"{self.label} (archive)",
            max_bytes=self.limits.download_bytes,
        )
        safe_extract(
            got.path,
            work / "archive",
            max_total_bytes=self.limits.extract_bytes,
            max_members=self.limits.members,
        )
        tops = list((work / "archive").iterdir())
        if len(tops) != 1 or tops[0].is_symlink() or not tops[0].is_dir():
            raise SnapshotMismatch(f"{self.label}: the archive does not hold one top folder")
        entry = work / "entry"
        entry.mkdir()
        os.rename(tops[0], entry / FILES)
        files = tree_of_folder(entry / FILES)
        actual = git_tree_sha(files)
        if actual != self.tree:
            hint = ""
            if ".gitattributes" in files:
                hint = " (.gitattributes may exclude or rewrite files in archives)"
            raise SnapshotMismatch(
                f"{self.label}: the archive's files are not the tree of commit "
                f"{self.commit[:12]} (tree {actual[:12]}, not {self.tree[:12]}){hint}"
            )
        doc = {"commit": self.commit, "tree": self.tree, "files": dict(sorted(files.items()))}
        write_json(entry / MANIFEST, doc)
        return entry


def _parse_files(value: Any) -> Tree | None:
    """tree.json's files, when every entry is a safe relative path, a mode and a SHA."""
    if not isinstance(value, dict):
        return None
    files: Tree = {}
    for path, entry in value.items():
        if not (isinstance(entry, list) and len(entry) == 2):
            return None
        mode, sha = entry
        parts = path.split("/") if isinstance(path, str) else [""]
        if any(p in ("", ".", "..") for p in parts) or mode not in _MODES:
            return None
        if not (isinstance(sha, str) and _SHA1.fullmatch(sha)):
            return None
        files[path] = (mode, sha)
    return files


def _prune(folder: Path, keep: Path) -> None:
    """Remove all but the KEEP most recently used snapshots, and partial ones left behind."""
    now = time.time()
    entries = []
    for child in folder.iterdir():
        with contextlib.suppress(OSError):
            if child.name.startswith(".partial-"):
                if now - child.stat().st_mtime > STALE_PARTIAL_SECONDS:
                    shutil.rmtree(child, ignore_errors=True)
            elif _SHA1.fullmatch(child.name) and child != keep:
                used = (child / MANIFEST).stat().st_mtime if (child / MANIFEST).exists() else 0
                entries.append((used, child))
    for _, child in sorted(entries, reverse=True)[KEEP - 1 :]:
        shutil.rmtree(child, ignore_errors=True)


def open_snapshot(
    commit: str,
    tree: str,
    link: Callable[[], str],
    *,
    label: str,
    cache: Path | None = None,
    limits: Limits | None = None,
) -> Snapshot:
    """The files of `commit` (whose tree is `tree`): from the cache when a snapshot there
    is exactly that tree, else from the archive at `link()`, checked, then cached."""
    for name, value in (("commit", commit), ("tree", tree)):
        if not _SHA1.fullmatch(value):
            raise InvalidInput(f"{label}: {value!r} is not a {name} SHA")
    root = (cache if cache is not None else cache_dir()) / SNAPSHOTS / commit
    snapshot = Snapshot(root, commit, tree, link, label, limits or Limits())
    if not snapshot.load():
        snapshot.make()
    return snapshot
