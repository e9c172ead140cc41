"""Writing so that a failure part-way leaves the previous file or folder, never half of one."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from medperf_action.errors import InvalidInput


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one rename: readers see the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json_object(path: Path, remedy: str, limit: int = 16 << 20) -> dict[str, Any]:
    """One of the tool's own JSON records (manifest.json, release.json) as an object.

    A file that is unreadable, not JSON or not an object was damaged since it was
    written: an InvalidInput that says `remedy`.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.loads(handle.read(limit))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc}); {remedy}") from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc}); {remedy}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: not a JSON object; {remedy}")
    return data


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_directory(new: Path, dest: Path) -> None:
    """Put `new` at `dest`; the previous `dest` (if any) is removed afterwards.

    At every moment `dest` is either the complete old folder, the complete new one, or
    (on systems without an atomic exchange, for an instant) absent.
    """
    if not dest.exists():
        os.rename(new, dest)
        return
    if _exchange(new, dest):
        shutil.rmtree(new)  # now holds the old folder
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rmdir(old)
    os.rename(dest, old)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)
