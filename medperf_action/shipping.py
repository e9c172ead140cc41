"""What a folder that crosses machines may hold: an MLCube's `additional_files/`, and a
task's outputs, which the host reads. One rule, for `validate`, `package` and the runs.

A symlink is kept as a link when it points inside the folder (a relative target that
resolves inside, to something that exists); an absolute, escaping or dangling link is
refused, and so is a socket, FIFO or device. `validate` reports every such entry as an
error, `package` refuses the same entries while it writes the tarball, and a task whose
output holds one is refused before the host reads it.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path


def link_problem(real_root: str, path: str, rel: str, target: str) -> str | None:
    """Why the symlink at `path` (`rel` inside the folder whose real path is `real_root`),
    pointing to `target`, may not be shipped; None when it may."""
    if os.path.isabs(target) or target.startswith("\\"):
        return (
            "an absolute target, which points elsewhere on another machine "
            "(make it a relative link to a file inside the folder)"
        )
    lexical = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    real = os.path.realpath(path)
    if (
        lexical == ".."
        or lexical.startswith("../")
        or os.path.commonpath([real_root, real]) != real_root
    ):
        return "points outside its folder; MedPerf would refuse it (copy the file in instead)"
    if not os.path.exists(path):
        return "points to nothing"
    return None


def kind_problem(mode: int) -> str | None:
    """Why a file of this mode may not be shipped; None for a file, folder or symlink."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    if stat.S_ISFIFO(mode):
        kind = "a FIFO"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "an unknown kind of file"
    return f"not a regular file, directory or symlink ({kind}); additional files cannot hold it"


def problems(root: Path) -> Iterator[tuple[str, str]]:
    """Each entry under `root` that may not be shipped, as (its path, why), in name order."""
    real_root = os.path.realpath(root)

    def walk(directory: str, prefix: str) -> Iterator[tuple[str, str]]:
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda e: os.fsencode(e.name))
        for item in items:
            rel = prefix + item.name
            mode = item.stat(follow_symlinks=False).st_mode
            why = kind_problem(mode)
            if why is None and stat.S_ISLNK(mode):
                target = os.readlink(item.path)
                why = link_problem(real_root, item.path, rel, target)
                if why is not None:
                    yield item.path, f"a symlink to {target}: {why}"
                continue
            if why is not None:
                yield item.path, why
            elif stat.S_ISDIR(mode):
                yield from walk(item.path, rel + "/")

    if os.path.isdir(root):
        try:
            yield from walk(str(root), "")
        except OSError as exc:  # unreadable, or changed while it was read
            yield str(exc.filename or root), f"cannot be read: {exc.strerror or exc}"
