"""A pinned npm package's tarball, fetched once with `npm pack` and checked against the
registry's published integrity (sha512), for the scripts that read data out of one."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path


def integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def fetch(package: str, version: str, pinned: str, tarball: Path, label: str) -> Path:
    """The tarball, from the cache or fetched with `npm pack`; exits if it is not the pin."""
    if not tarball.exists():
        tarball.parent.mkdir(parents=True, exist_ok=True)
        print(f"{label}: npm pack {package}@{version} -> {tarball.parent}", file=sys.stderr)
        subprocess.run(
            ["npm", "pack", f"{package}@{version}", "--pack-destination", str(tarball.parent)],
            check=True,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
    actual = integrity(tarball)
    if actual != pinned:
        raise SystemExit(f"{tarball}: integrity {actual} is not the pinned {pinned}")
    return tarball


def read_member(tarball: Path, member: str) -> bytes:
    with tarfile.open(tarball) as tar:
        handle = tar.extractfile(member)
        if handle is None:
            raise SystemExit(f"{tarball} has no {member}")
        return handle.read()
