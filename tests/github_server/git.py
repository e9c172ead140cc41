"""A small content-addressed git object store: blobs, trees and commits whose SHAs are
the ones real git computes, enough for the contents, refs, commits and pulls endpoints."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    date: datetime

    def raw(self) -> str:
        return f"{self.name} <{self.email}> {int(self.date.timestamp())} +0000"

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "date": iso(self.date) or ""}


@dataclass
class Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author: Signature
    committer: Signature


@dataclass
class Tree:
    sha: str
    files: dict[str, str]  # path (relative to this tree) -> blob sha


@dataclass
class ObjectStore:
    """Shared by all repositories, as a fork network shares objects on GitHub."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, Tree] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    # -- writing ---------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        sha = blob_sha(data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, files: dict[str, str]) -> str:
        """Store the (flat) tree path -> blob sha with its subtrees; return the root's SHA."""
        subdirs: dict[str, dict[str, str]] = {}
        entries: list[tuple[str, bytes, str]] = []  # (sort key, raw entry, name)
        for path, sha in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = sha
            else:
                entries.append(
                    (head, b"100644 " + head.encode() + b"\0" + bytes.fromhex(sha), head)
                )
        for name, content in subdirs.items():
            sub = self.put_tree(content)
            entries.append(
                (name + "/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(sub), name)
            )
        body = b"".join(raw for _, raw, _ in sorted(entries, key=lambda e: e[0].encode()))
        sha = hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()
        self.trees[sha] = Tree(sha, dict(files))
        return sha

    def put_commit(
        self,
        files: dict[str, str],
        parents: list[str],
        message: str,
        author: Signature,
        committer: Signature | None = None,
    ) -> str:
        committer = committer or author
        tree = self.put_tree(files)
        lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
        lines += [f"author {author.raw()}", f"committer {committer.raw()}", "", message]
        body = "\n".join(lines).encode()
        sha = hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()
        self.commits[sha] = Commit(sha, tree, list(parents), message, author, committer)
        return sha

    # -- reading ---------------------------------------------------------------------------

    def files(self, commit_sha: str) -> dict[str, str]:
        return self.trees[self.commits[commit_sha].tree].files

    def subtree_sha(self, commit_sha: str, directory: str) -> str | None:
        """The SHA of the tree at `directory` ('' for the root) in a commit."""
        files = self.files(commit_sha)
        if not directory:
            return self.commits[commit_sha].tree
        prefix = directory.rstrip("/") + "/"
        sub = {p[len(prefix) :]: s for p, s in files.items() if p.startswith(prefix)}
        return self.put_tree(sub) if sub else None

    def ancestors(self, sha: str) -> list[str]:
        """sha and all its ancestors, nearest first."""
        seen: dict[str, None] = {}
        todo = deque([sha])
        while todo:
            current = todo.popleft()
            if current in seen:
                continue
            seen[current] = None
            todo.extend(self.commits[current].parents)
        return list(seen)

    def merge_base(self, a: str, b: str) -> str | None:
        of_b = set(self.ancestors(b))
        return next((c for c in self.ancestors(a) if c in of_b), None)

    def is_ancestor(self, ancestor: str, of: str) -> bool:
        return ancestor in set(self.ancestors(of))

    def diff(self, old_commit: str | None, new_commit: str) -> list[tuple[str, str, str | None]]:
        """(path, status, new blob sha) of every file that differs, sorted by path."""
        old = self.files(old_commit) if old_commit else {}
        new = self.files(new_commit)
        out: list[tuple[str, str, str | None]] = []
        for path in sorted(set(old) | set(new)):
            if path not in old:
                out.append((path, "added", new[path]))
            elif path not in new:
                out.append((path, "removed", None))
            elif old[path] != new[path]:
                out.append((path, "modified", new[path]))
        return out

    def three_way(self, base: str | None, ours: str, theirs: str) -> dict[str, str] | None:
        """Merge the files of `theirs` into `ours` since `base`; None on a conflict."""
        b = self.files(base) if base else {}
        o = self.files(ours)
        t = self.files(theirs)
        merged: dict[str, str] = {}
        for path in set(b) | set(o) | set(t):
            vb, vo, vt = b.get(path), o.get(path), t.get(path)
            if vt in (vb, vo):
                value = vo
            elif vo == vb:
                value = vt
            else:
                return None
            if value is not None:
                merged[path] = value
        return merged
